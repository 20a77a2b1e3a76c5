using P2PStack.Addressing;
using P2PStack.Identity;

namespace P2PStack.Network;

/// <summary>
/// A running libp2p peer: local identity and addresses, dialing, streams, and the services protocols share
/// (peer store, events). Implemented by P2PStack.Host; protocol modules depend only on this interface.
/// </summary>
public interface IPeerHost
{
    PeerId PeerId { get; }

    /// <summary>Addresses bound by the listeners (with real ports), without the /p2p suffix.</summary>
    IReadOnlyList<Multiaddr> ListenAddresses { get; }

    /// <summary>
    /// Addresses other peers should dial, without the /p2p suffix: the announce addresses from options if any, else the
    /// listen addresses with unspecified IPs (0.0.0.0, ::) expanded to this machine's interface addresses.
    /// </summary>
    IReadOnlyList<Multiaddr> AdvertisedAddresses { get; }

    IPeerStore PeerStore { get; }

    IEventBus Events { get; }

    IConnectionManager ConnectionManager { get; }

    /// <summary>Protocol ids served by the registered handlers.</summary>
    IReadOnlyCollection<string> Protocols { get; }

    /// <summary>
    /// Serves the handler's protocols from now on, beside the handlers registered in DI. Disposing the result
    /// removes it. A protocol id already served is refused with <see cref="InvalidOperationException"/>.
    /// </summary>
    IDisposable AddHandler(IProtocolHandler handler);

    /// <summary>Binds the configured listen addresses and starts accepting.</summary>
    Task StartAsync(CancellationToken cancellationToken);

    /// <summary>Stops accepting and closes every connection.</summary>
    Task StopAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Returns a connection to the peer the address names: an existing one when there is one, else a new dial.
    /// An address without /p2p accepts whatever peer answers. Simultaneous dials to one peer share one attempt.
    /// </summary>
    ValueTask<IConnection> DialAsync(Multiaddr address, CancellationToken cancellationToken);

    /// <summary>Returns a connection to the peer, dialing the addresses the peer store knows when needed.</summary>
    ValueTask<IConnection> DialAsync(PeerId peer, CancellationToken cancellationToken);

    /// <summary>
    /// Like <see cref="DialAsync(Multiaddr, CancellationToken)"/>, with constraints: an existing connection is reused only
    /// when it satisfies them, otherwise a new one is dialed (not shared with other callers).
    /// </summary>
    ValueTask<IConnection> DialAsync(Multiaddr address, DialOptions options, CancellationToken cancellationToken);

    /// <summary>Like <see cref="DialAsync(PeerId, CancellationToken)"/>, with constraints.</summary>
    ValueTask<IConnection> DialAsync(PeerId peer, DialOptions options, CancellationToken cancellationToken);

    /// <summary>Dials if needed, then opens a stream negotiating the first supported of <paramref name="protocols"/>.</summary>
    ValueTask<IStream> OpenStreamAsync(PeerId peer, IReadOnlyList<string> protocols, CancellationToken cancellationToken);

    IReadOnlyList<IConnection> GetConnections();

    IReadOnlyList<IConnection> GetConnections(PeerId peer);

    /// <summary>Closes every connection to the peer.</summary>
    ValueTask DisconnectAsync(PeerId peer, CancellationToken cancellationToken);
}

/// <summary>Constraints on a dial.</summary>
public sealed record DialOptions
{
    public static DialOptions Default { get; } = new();

    /// <summary>Security protocols to offer, in preference order (a subset of the registered ones); null offers all.</summary>
    public IReadOnlyList<string>? SecurityProtocols { get; init; }

    /// <summary>Dial a new connection even when a suitable one exists.</summary>
    public bool ForceNewConnection { get; init; }

    /// <summary>Whether an existing connection can serve a dial with these options.</summary>
    public bool IsSatisfiedBy(IConnection connection) =>
        !ForceNewConnection && (SecurityProtocols is null || SecurityProtocols.Contains(connection.SecurityProtocol));
}

/// <summary>Events raised by the host; handlers run synchronously on the raising thread and must be quick.</summary>
public interface IEventBus
{
    IDisposable Subscribe<TEvent>(Action<TEvent> handler);

    void Publish<TEvent>(TEvent value);
}

public sealed record PeerConnected(IConnection Connection);

public sealed record PeerDisconnected(IConnection Connection);

/// <summary>Identify completed for a peer: its protocols and addresses are in the peer store.</summary>
public sealed record PeerIdentified(PeerId Peer, IConnection Connection);

/// <summary>Decides which peers and addresses may connect, at each stage of a connection's life.</summary>
public interface IConnectionGater
{
    /// <summary>Before dialing. <paramref name="peer"/> is null when the address names no peer.</summary>
    GateDecision InterceptDial(PeerId? peer, Multiaddr address);

    /// <summary>When a transport accepted an inbound connection, before any handshake.</summary>
    GateDecision InterceptAccept(Multiaddr localAddress, Multiaddr remoteAddress);

    /// <summary>After the security handshake, when the remote peer and the security protocol are known.</summary>
    GateDecision InterceptSecured(Direction direction, PeerId peer, Multiaddr remoteAddress, string securityProtocol);
}

/// <summary>Allow, or deny with a reason that ends up in the error and the log.</summary>
public readonly record struct GateDecision(bool Allowed, string? Reason)
{
    public static GateDecision Allow => new(true, null);

    public static GateDecision Deny(string reason) => new(false, reason);
}

/// <summary>A connection gater refused a connection.</summary>
public sealed class ConnectionGatedException(string stage, string reason)
    : InvalidOperationException($"connection refused at {stage}: {reason}")
{
    public string Stage { get; } = stage;

    public string Reason { get; } = reason;
}

/// <summary>No address of the peer could be dialed; <see cref="Attempts"/> holds each address's error.</summary>
public sealed class DialFailedException(string message, IReadOnlyList<DialAttemptError> attempts)
    : IOException(attempts.Count == 0 ? message : $"{message}: {string.Join("; ", attempts.Select(a => $"{a.Address}: {a.Error.Message}"))}",
        attempts.Count == 1 ? attempts[0].Error : null)
{
    public IReadOnlyList<DialAttemptError> Attempts { get; } = attempts;
}

public sealed record DialAttemptError(Multiaddr Address, Exception Error);

/// <summary>
/// Keeps the connection count between watermarks by closing the least valuable peers. Protocols tag the peers
/// they value (a DHT neighbour, a mesh peer) and protect the ones that must stay.
/// </summary>
public interface IConnectionManager
{
    /// <summary>Adds to the peer's value under <paramref name="tag"/> (replacing the tag's previous value).</summary>
    void TagPeer(PeerId peer, string tag, int value);

    void UntagPeer(PeerId peer, string tag);

    /// <summary>A protected peer is never trimmed while any tag protects it.</summary>
    void Protect(PeerId peer, string tag);

    /// <summary>Removes one protection; returns whether the peer is still protected by another tag.</summary>
    bool Unprotect(PeerId peer, string tag);

    /// <summary>Closes connections of the least valuable peers until the count is at the low watermark.</summary>
    Task TrimAsync(CancellationToken cancellationToken);
}

/// <summary>The protocols this host serves changed (a handler was added or removed).</summary>
public sealed record LocalProtocolsChanged(IReadOnlyCollection<string> Protocols);
