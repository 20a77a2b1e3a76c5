using System.IO.Pipelines;

namespace P2PStack.Network;

/// <summary>A stream multiplexer (<c>/yamux/1.0.0</c>): many independent streams over one secure connection.</summary>
public interface IStreamMuxer
{
    /// <summary>The multistream-select protocol id of this muxer.</summary>
    string ProtocolId { get; }

    /// <summary>
    /// Starts a session over the connection. The session owns the connection from now on and disposes it when it
    /// ends. <paramref name="direction"/> Outbound means this side initiated the connection (yamux: odd stream ids).
    /// </summary>
    IMuxerSession StartSession(ISecureConnection connection, Direction direction);

    /// <summary>
    /// Starts a session whose buffers are reserved in <paramref name="memory"/> (the connection's resource scope): a
    /// muxer that buffers per stream reserves there and refuses streams, or stops growing windows, when it is full.
    /// A muxer that does not account memory ignores the scope.
    /// </summary>
    IMuxerSession StartSession(ISecureConnection connection, Direction direction, IResourceScope? memory) =>
        StartSession(connection, direction);
}
