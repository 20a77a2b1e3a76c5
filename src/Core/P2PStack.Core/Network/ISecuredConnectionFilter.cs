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

/// <summary>
/// Secured-connection filters a host negotiates on every connection it dials without naming filters
/// (<see cref="DialOptions.Filters"/> null), and, when <see cref="Required"/>, demands of every inbound connection: a
/// padding policy that pads all connections registers one (one per host, in DI). An existing connection serves such a
/// dial when it runs exactly these filters, or, when they are not required, none. Not required: a remote that refuses
/// a filter is reached without it in the same negotiation (the dialer proposes the muxer next), and dials it with
/// them anyway the next time. Required: a dial to such a remote fails with <see cref="ProtocolNotSupportedException"/>,
/// and such a remote's inbound connection is refused (this side then accepts no early muxer and offers no muxer
/// before the filters).
/// </summary>
public interface IDefaultConnectionFilters
{
    /// <summary>Filter ids (<see cref="ISecuredConnectionFilter.ProtocolId"/>), outermost first; empty: none.</summary>
    IReadOnlyList<string> Filters { get; }

    /// <summary>Whether a remote without the filters is refused (true) or connected without them (false).</summary>
    bool Required { get; }

    /// <summary>Told when a remote refused <paramref name="filter"/> and the connection went on without it (to count).</summary>
    void WentWithout(string filter);

    /// <summary>Told when a connection was refused because the remote would not run the required filters (to count).</summary>
    void Refused(Direction direction);
}
