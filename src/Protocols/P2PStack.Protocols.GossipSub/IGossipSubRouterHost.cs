using P2PStack.Identity;
using P2PStack.Protocols.GossipSub.Pb;
using P2PStack.Records;

namespace P2PStack.Protocols.GossipSub;

/// <summary>
/// What the router needs from its surroundings. The router calls these under its own serialisation, so none may
/// block or call back into the router synchronously.
/// </summary>
public interface IGossipSubRouterHost
{
    /// <summary>Queues an RPC for the peer.</summary>
    void Send(PeerId peer, RPC rpc);

    /// <summary>Hands a validated message to the local subscriptions of its topic.</summary>
    void Deliver(PubSubMessage message);

    /// <summary>Starts application validation. Returns the verdict when it is known at once; otherwise null, and the
    /// host later calls <see cref="GossipSubRouter.CompleteValidation"/>.</summary>
    ValidationResult? BeginValidation(PendingMessage message);

    /// <summary>Connects to a peer learnt from peer exchange or configured as direct; <paramref name="record"/> is its
    /// verified signed peer record when one came with it.</summary>
    void Connect(PeerId peer, SignedEnvelope? record);

    /// <summary>The peer's signed peer record (envelope bytes) to pass on in peer exchange, when we have one.</summary>
    byte[]? GetSignedPeerRecord(PeerId peer);

    /// <summary>The peer joined or left our mesh of a topic (for connection-manager tagging).</summary>
    void MeshChanged(PeerId peer, string topic, bool inMesh);
}
