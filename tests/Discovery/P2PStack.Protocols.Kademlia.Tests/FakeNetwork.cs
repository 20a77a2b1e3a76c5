using System.Collections.Concurrent;
using System.Net;
using Google.Protobuf;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Protocols.Kademlia.Pb;

namespace P2PStack.Protocols.Kademlia.Tests;

/// <summary>
/// Nodes that reach each other in-process: every request and response is serialised and parsed again, so the
/// handlers see exactly the bytes the wire would carry. Nodes can be taken offline.
/// </summary>
internal sealed class FakeNetwork
{
    private readonly ConcurrentDictionary<PeerId, KademliaDht> _nodes = new();
    private readonly ConcurrentDictionary<PeerId, bool> _offline = new();
    private int _next;

    public IReadOnlyList<KademliaDht> Nodes => [.. _nodes.Values];

    public int Requests;

    public KademliaDht AddNode(Action<KademliaOptions>? configure = null, PeerId? id = null)
    {
        id ??= PeerId.FromPublicKey(PrivateKey.Generate().PublicKey);
        int n = Interlocked.Increment(ref _next);
        var options = new KademliaOptions { RefreshInterval = TimeSpan.Zero, CleanupInterval = TimeSpan.Zero, RequestTimeout = TimeSpan.FromSeconds(30) };
        configure?.Invoke(options);
        var endpoint = new Endpoint(this, id, Multiaddr.Parse($"/ip4/10.0.{n / 250}.{n % 250 + 1}/tcp/4001"));
        var node = new KademliaDht(id, options, endpoint, endpoint);
        _nodes[id] = node;
        return node;
    }

    public void SetOffline(PeerId peer, bool offline) => _offline[peer] = offline;

    public Multiaddr AddressOf(KademliaDht node) => ((Endpoint)GetDirectory(node)).Address.Encapsulate($"/p2p/{node.Self}");

    private static IKadPeerDirectory GetDirectory(KademliaDht node) =>
        (IKadPeerDirectory)typeof(KademliaDht).GetField("_directory", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(node)!;

    private sealed class Endpoint(FakeNetwork network, PeerId self, Multiaddr address) : IKadNetwork, IKadPeerDirectory
    {
        private readonly ConcurrentDictionary<PeerId, Multiaddr[]> _addresses = new();
        private readonly ConcurrentDictionary<PeerId, bool> _identified = new();

        public Multiaddr Address { get; } = address;

        public IReadOnlyList<Multiaddr> LocalAddresses => [Address];

        public async Task<Message?> SendAsync(PeerId peer, Message request, bool expectResponse, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref network.Requests);
            await Task.Yield();
            cancellationToken.ThrowIfCancellationRequested();
            if (!_addresses.ContainsKey(peer)) throw new IOException($"no address known for {peer}");
            if (network._offline.GetValueOrDefault(peer) || !network._nodes.TryGetValue(peer, out var remote))
                throw new IOException($"{peer} is unreachable");
            await IdentifyAsync(remote, cancellationToken);
            var received = KadProtocol.Parse(request.ToByteArray());
            var response = await remote.RequestHandler.HandleAsync(self, received, cancellationToken);
            if (!expectResponse) return null;
            if (response is null) throw new IOException("the remote closed the stream without answering");
            return KadProtocol.Parse(response.ToByteArray());
        }

        // What identify does on a new connection: the remote learns our addresses and, when we serve the DHT, adds us.
        private async Task IdentifyAsync(KademliaDht remote, CancellationToken cancellationToken)
        {
            if (!_identified.TryAdd(remote.Self, true)) return;
            var self = network._nodes[Self];
            var remoteEndpoint = (Endpoint)GetDirectory(remote);
            remoteEndpoint._identified.TryAdd(Self, true);
            remoteEndpoint.AddAddresses(Self, [Address], TimeSpan.FromHours(1));
            if (self.Options.Mode == DhtMode.Server) await remote.AddServerPeerAsync(Self, cancellationToken);
        }

        private PeerId Self => self;

        public IReadOnlyList<Multiaddr> GetAddresses(PeerId peer) => _addresses.TryGetValue(peer, out var a) ? a : [];

        public void AddAddresses(PeerId peer, IReadOnlyList<Multiaddr> addresses, TimeSpan ttl) =>
            _addresses.AddOrUpdate(peer, [.. addresses], (_, old) => [.. old.Union(addresses)]);

        public bool IsConnected(PeerId peer) => false;

        public IReadOnlyCollection<IPAddress> GetConnectedIPs(PeerId peer) => [];
    }
}
