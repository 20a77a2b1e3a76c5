using System.IO.Pipelines;

namespace P2PStack.Network;

/// <summary>
/// A stage between the secure channel and the muxer: it wraps the decrypted byte pipe of a connection, so that what it
/// adds (fixed-size cells, padding, cover traffic) travels inside the encryption. The dialer asks for filters per
/// connection (<see cref="DialOptions.Filters"/>); they are negotiated with multistream-select after the security
/// handshake (the dialer then offers no early muxer inside the handshake), and the listener applies every registered
/// filter the dialer selects. Register implementations in DI as <see cref="ISecuredConnectionFilter"/>.
/// </summary>
public interface ISecuredConnectionFilter
{
    /// <summary>The multistream-select protocol id of this filter, e.g. <c>/synaptic/padding/1.0.0</c>.</summary>
    string ProtocolId { get; }

    /// <summary>
    /// Wraps <paramref name="connection"/>; the muxer (or the next filter) runs over the result. Any handshake of the
    /// filter's own happens inside the returned pipe. Completing the result's output must end the inner output after
    /// the remaining data; an error or the end of the inner input must reach the result's input.
    /// </summary>
    /// <param name="direction">This side's role: Outbound is the connection's initiator.</param>
    IFilteredPipe Apply(IDuplexPipe connection, Direction direction);
}

/// <summary>A filtered pipe. Disposing it stops the filter's work; the pipe under it is disposed by its owner after.</summary>
public interface IFilteredPipe : IDuplexPipe, IAsyncDisposable;
