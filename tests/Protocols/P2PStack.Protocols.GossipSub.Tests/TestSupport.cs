using System.Buffers;
using Google.Protobuf;
using P2PStack.Identity;
using P2PStack.Protocols.GossipSub.Pb;
using P2PStack.Records;

namespace P2PStack.Protocols.GossipSub.Tests;

internal sealed class ManualTime : TimeProvider
{
    private DateTimeOffset _now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public override DateTimeOffset GetUtcNow() => _now;

    public void Advance(TimeSpan by) => _now += by;
}

internal static class Keys
{
    private static readonly Dictionary<int, PrivateKey> Cache = new();

    /// <summary>A deterministic Ed25519 key per index.</summary>
    public static PrivateKey Key(int index)
    {
        lock (Cache)
        {
            if (Cache.TryGetValue(index, out var key)) return key;
            var seed = new byte[32];
            BitConverter.GetBytes(index + 1).CopyTo(seed, 0);
            seed[31] = 0x5a;
            return Cache[index] = Ed25519PrivateKey.FromSeed(seed);
        }
    }

    public static PeerId Peer(int index) => PeerId.FromPublicKey(Key(index).PublicKey);
}

/// <summary>Records what a router emits; validation answers come from <see cref="Validator"/>.</summary>
internal class RecordingHost : IGossipSubRouterHost
{
    public List<(PeerId Peer, RPC Rpc)> Sent { get; } = [];
    public List<PubSubMessage> Delivered { get; } = [];
    public List<(PeerId Peer, SignedEnvelope? Record)> Connects { get; } = [];
    public List<PendingMessage> Pending { get; } = [];
    public Dictionary<PeerId, byte[]> Records { get; } = new();
    public Func<PendingMessage, ValidationResult?> Validator { get; set; } = _ => ValidationResult.Accept;

    public virtual void Send(PeerId peer, RPC rpc) => Sent.Add((peer, rpc));

    public void Deliver(PubSubMessage message) => Delivered.Add(message);

    public ValidationResult? BeginValidation(PendingMessage message)
    {
        var verdict = Validator(message);
        if (verdict is null) Pending.Add(message);
        return verdict;
    }

    public void Connect(PeerId peer, SignedEnvelope? record) => Connects.Add((peer, record));

    public byte[]? GetSignedPeerRecord(PeerId peer) => Records.GetValueOrDefault(peer);

    public void MeshChanged(PeerId peer, string topic, bool inMesh) { }

    public IEnumerable<ControlMessage> ControlTo(PeerId peer) =>
        Sent.Where(s => s.Peer == peer && s.Rpc.Control is not null).Select(s => s.Rpc.Control);

    public IEnumerable<Message> MessagesTo(PeerId peer) => Sent.Where(s => s.Peer == peer).SelectMany(s => s.Rpc.Publish);
}

/// <summary>Routers wired together in memory; RPCs go through the protobuf encoding on the way.</summary>
internal sealed class SimNetwork
{
    private readonly Queue<(PeerId From, PeerId To, byte[] Bytes)> _inflight = new();

    public SimNetwork(int count, Func<int, GossipSubOptions> options, int seed = 1)
    {
        Time = new ManualTime();
        for (int i = 0; i < count; i++)
        {
            var host = new SimHost(this, Keys.Peer(i));
            var router = new GossipSubRouter(options(i), Keys.Peer(i), host, Time, new Random(seed * 1000 + i));
            Nodes.Add(new SimNode(i, Keys.Peer(i), router, host));
        }
    }

    public ManualTime Time { get; }

    public List<SimNode> Nodes { get; } = [];

    public Dictionary<PeerId, SimNode> ById => Nodes.ToDictionary(n => n.Id);

    public void Connect(int a, int b, string protocol = GossipSubProtocols.MeshSubV12)
    {
        Nodes[a].Router.AddPeer(Nodes[b].Id, protocol, outbound: true);
        Nodes[b].Router.AddPeer(Nodes[a].Id, protocol, outbound: false);
        Drain();
    }

    public void Drain()
    {
        var byId = ById;
        int guard = 0;
        while (_inflight.TryDequeue(out var item))
        {
            if (++guard > 1_000_000) throw new InvalidOperationException("RPC storm in simulation");
            var rpc = RpcCodec.Decode(item.Bytes);
            byId[item.To].Router.HandleRpc(item.From, rpc);
        }
    }

    public void Heartbeat(int rounds = 1)
    {
        for (int r = 0; r < rounds; r++)
        {
            Time.Advance(TimeSpan.FromSeconds(1));
            foreach (var node in Nodes) node.Router.Heartbeat();
            Drain();
        }
    }

    internal void Enqueue(PeerId from, PeerId to, RPC rpc) => _inflight.Enqueue((from, to, rpc.ToByteArray()));

    internal sealed class SimHost(SimNetwork network, PeerId self) : RecordingHost
    {
        public override void Send(PeerId peer, RPC rpc)
        {
            base.Send(peer, rpc);
            network.Enqueue(self, peer, rpc);
        }
    }
}

internal sealed record SimNode(int Index, PeerId Id, GossipSubRouter Router, RecordingHost Host)
{
    public MessageId Publish(string topic, byte[] data, ulong seqno) =>
        Router.Publish(MessageSigning.CreateSigned(topic, data, Keys.Key(Index), seqno));
}
