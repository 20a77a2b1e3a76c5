using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Host;

/// <summary>
/// A connection's scope: counted in transient (and system) from accept or dial until the handshake names the peer,
/// then in that peer's scope. Its muxer reserves stream windows here. Disposing returns the connection and its own
/// memory; streams still open return theirs as they close.
/// </summary>
internal sealed class ConnectionScope : ResourceScope, IDisposable
{
    private static long s_nextId;

    public ConnectionScope(ResourceManager manager, Direction direction, ResourceLimit limit, ResourceScope transient,
        ResourceScope system)
        : base(manager, "connection", $"connection {Interlocked.Increment(ref s_nextId)}", limit, transient, system)
    {
        Direction = direction;
    }

    public Direction Direction { get; }

    public PeerResourceScope? Peer { get; set; }

    /// <summary>Moves the connection from transient into the peer's scope.</summary>
    /// <exception cref="ResourceLimitExceededException">The peer's connection (or memory) limit.</exception>
    public void SetPeer(PeerId peer) => Manager.SetPeer(this, peer);

    /// <summary>Counts a new stream on this connection (in transient until its protocol is known).</summary>
    /// <exception cref="ResourceLimitExceededException">A stream limit of the connection, its peer, transient or system.</exception>
    public StreamScope OpenStream(Direction direction) => Manager.OpenStream(this, direction);

    public void Dispose() => Manager.Close(this);
}

/// <summary>A remote peer's scope; kept while it holds anything.</summary>
internal sealed class PeerResourceScope(ResourceManager manager, PeerId peer, ResourceLimit limit, ResourceScope system)
    : ResourceScope(manager, "peer", $"peer {peer}", limit, system)
{
    public PeerId PeerId { get; } = peer;
}

/// <summary>A stream's scope: in transient until its protocol is negotiated, then in that protocol's scope.</summary>
internal sealed class StreamScope(ResourceManager manager, Direction direction, ResourceLimit limit, string name, params ResourceScope[] parents)
    : ResourceScope(manager, "stream", name, limit, parents), IDisposable
{
    public Direction Direction { get; } = direction;

    public string? Protocol { get; set; }

    /// <summary>The connection it runs on.</summary>
    public ConnectionScope? Connection => Parents.OfType<ConnectionScope>().FirstOrDefault();

    /// <summary>Moves the stream from transient into the protocol's scope.</summary>
    /// <exception cref="ResourceLimitExceededException">The protocol's stream limit.</exception>
    public void SetProtocol(string protocol) => Manager.SetProtocol(this, protocol);

    public void Dispose() => Manager.Close(this);
}
