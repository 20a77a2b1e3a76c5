using Google.Protobuf;
using P2PStack.Identity;
using P2PStack.Protocols.GossipSub.Pb;

namespace P2PStack.Protocols.GossipSub.Tests;

/// <summary>One router under test (key 0) with scripted remote peers (keys 1..n).</summary>
internal sealed class Harness
{
    public const string Topic = "test-topic";

    public Harness(Action<GossipSubOptions>? configure = null, int seed = 7)
    {
        Options = new GossipSubOptions();
        configure?.Invoke(Options);
        Router = new GossipSubRouter(Options, Keys.Peer(0), Host, Time, new Random(seed));
    }

    public GossipSubOptions Options { get; }
    public ManualTime Time { get; } = new();
    public RecordingHost Host { get; } = new();
    public GossipSubRouter Router { get; }

    public PeerId AddPeer(int index, string protocol = GossipSubProtocols.MeshSubV12, bool outbound = true, params string[] topics)
    {
        var peer = Keys.Peer(index);
        Router.AddPeer(peer, protocol, outbound);
        if (topics.Length > 0) Subscribe(index, topics);
        return peer;
    }

    public void Subscribe(int index, params string[] topics)
    {
        var rpc = new RPC();
        foreach (var t in topics) rpc.Subscriptions.Add(new RPC.Types.SubOpts { Subscribe = true, Topicid = t });
        Router.HandleRpc(Keys.Peer(index), rpc);
    }

    public void Control(int index, ControlMessage control) => Router.HandleRpc(Keys.Peer(index), new RPC { Control = control });

    public void Graft(int index, string topic = Topic) =>
        Control(index, new ControlMessage { Graft = { new ControlGraft { TopicID = topic } } });

    public void Prune(int index, ulong? backoffSeconds = null, string topic = Topic, params PeerInfo[] px)
    {
        var prune = new ControlPrune { TopicID = topic };
        if (backoffSeconds is { } b) prune.Backoff = b;
        prune.Peers.AddRange(px);
        Control(index, new ControlMessage { Prune = { prune } });
    }

    /// <summary>Peer <paramref name="forwarder"/> relays a message authored by <paramref name="author"/>.</summary>
    public Message Relay(int forwarder, int author, string data, ulong seqno, string topic = Topic)
    {
        var message = MessageSigning.CreateSigned(topic, System.Text.Encoding.UTF8.GetBytes(data), Keys.Key(author), seqno);
        Router.HandleRpc(Keys.Peer(forwarder), new RPC { Publish = { message } });
        return message;
    }

    public void Heartbeats(int count)
    {
        for (int i = 0; i < count; i++)
        {
            Time.Advance(Options.HeartbeatInterval);
            Router.Heartbeat();
        }
    }

    public static ByteString Bytes(MessageId id) => ByteString.CopyFrom(id.Bytes.Span);
}
