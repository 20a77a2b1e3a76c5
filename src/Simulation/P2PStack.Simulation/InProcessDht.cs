using System.Collections.Concurrent;
using System.Net;
using Google.Protobuf;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Protocols.Kademlia;
using P2PStack.Protocols.Kademlia.Pb;

namespace P2PStack.Simulation;

/// <summary>
/// A DHT of real <see cref="KademliaDht"/> nodes (routing tables, lookups, request handlers, stores) whose requests
/// travel through the DHT's own <see cref="IKadNetwork"/> seam instead of hosts and connections: every request and
/// response is serialised to protobuf bytes and parsed back, and can be delayed by a one-way latency. What it leaves
/// out is the connection stack (transport, Noise, Yamux, multistream-select, identify), which the full-host scenario
/// covers; it makes DHTs of thousands of nodes affordable on a small machine. When two nodes talk for the first time
/// the callee learns the caller's address and offers it to its routing table, as the host binding does when
/// identify reports a new DHT server.
/// </summary>
public sealed class InProcessDht : IAsyncDisposable
{
    private readonly ConcurrentDictionary<PeerId, Node> _nodes = new();
    private readonly ConcurrentDictionary<(PeerId, PeerId), byte> _met = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly TimeSpan _latency;

    /// <param name="latency">One-way delay of each message (zero: none).</param>
    public InProcessDht(TimeSpan latency) => _latency = latency;

    /// <summary>Messages (requests and responses) carried so far, and their bytes.</summary>
    public long Messages => Interlocked.Read(ref _messages);

    public long Bytes => Interlocked.Read(ref _bytes);

    private long _messages;
    private long _bytes;

    public IReadOnlyCollection<KademliaDht> Nodes => [.. _nodes.Values.Select(n => n.Dht)];

    /// <summary>Adds a node with the given identity and options (its address is <c>/memory/&lt;index&gt;</c>).</summary>
    public KademliaDht Add(PeerId peer, ulong index, KademliaOptions options)
    {
        var node = new Node(this, peer, MemoryAddress(index));
        node.Dht = new KademliaDht(peer, options, new TracingKadNetwork(node), node);
        if (!_nodes.TryAdd(peer, node)) throw new InvalidOperationException($"{peer} is already in the DHT");
        return node.Dht;
    }

    public Multiaddr AddressOf(PeerId peer) => _nodes[peer].Address.Encapsulate($"/p2p/{peer}");

    private static Multiaddr MemoryAddress(ulong index)
    {
        Span<byte> raw = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64BigEndian(raw, index);
        return Multiaddr.FromComponents([MultiaddrComponent.FromRawValue(MultiaddrProtocols.Memory, raw)]);
    }

    private async Task<Message?> DeliverAsync(Node from, PeerId to, Message request, bool expectResponse, CancellationToken cancellationToken)
    {
        if (!_nodes.TryGetValue(to, out var target)) throw new IOException($"connection refused: {to} is not in the simulated DHT");
        if (from.Dht.Options.Mode == DhtMode.Server && _met.TryAdd((to, from.Peer), 0))
        {
            // First contact: the callee learns the caller's address and sees a new DHT server, as identify reports it.
            target.AddAddresses(from.Peer, [from.Address], TimeSpan.FromHours(1));
            _ = target.Dht.AddServerPeerAsync(from.Peer, _stopping.Token).ContinueWith(static _ => { }, TaskScheduler.Default);
        }
        var wire = Carry(request);
        if (_latency > TimeSpan.Zero) await Task.Delay(_latency, cancellationToken).ConfigureAwait(false);
        var parsed = Message.Parser.ParseFrom(wire);
        var response = await target.Dht.RequestHandler.HandleAsync(from.Peer, parsed, cancellationToken).ConfigureAwait(false);
        if (!expectResponse) return null;
        if (response is null) throw new IOException($"{to} sent no response");
        var answer = Carry(response);
        if (_latency > TimeSpan.Zero) await Task.Delay(_latency, cancellationToken).ConfigureAwait(false);
        return Message.Parser.ParseFrom(answer);
    }

    private byte[] Carry(Message message)
    {
        var bytes = message.ToByteArray();
        Interlocked.Increment(ref _messages);
        Interlocked.Add(ref _bytes, bytes.Length);
        return bytes;
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (var node in _nodes.Values) await node.Dht.DisposeAsync().ConfigureAwait(false);
    }

    private sealed class Node(InProcessDht owner, PeerId peer, Multiaddr address) : IKadNetwork, IKadPeerDirectory
    {
        private readonly ConcurrentDictionary<PeerId, IReadOnlyList<Multiaddr>> _addresses = new();

        public PeerId Peer { get; } = peer;

        public Multiaddr Address { get; } = address;

        public KademliaDht Dht { get; set; } = null!;

        public Task<Message?> SendAsync(PeerId peer, Message request, bool expectResponse, CancellationToken cancellationToken) =>
            owner.DeliverAsync(this, peer, request, expectResponse, cancellationToken);

        public IReadOnlyList<Multiaddr> LocalAddresses => [Address];

        public IReadOnlyList<Multiaddr> GetAddresses(PeerId peer) => _addresses.TryGetValue(peer, out var known) ? known : [];

        public void AddAddresses(PeerId peer, IReadOnlyList<Multiaddr> addresses, TimeSpan ttl) => _addresses[peer] = addresses;

        public bool IsConnected(PeerId peer) => false;

        public IReadOnlyCollection<IPAddress> GetConnectedIPs(PeerId peer) => [];
    }
}
