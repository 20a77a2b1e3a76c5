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
    /// Addresses other peers should dial, without the /p2p suffix (<see cref="IAddressManager.AdvertisedAddresses"/>):
    /// the announce addresses from options if any, else the listen addresses with unspecified IPs (0.0.0.0, ::)
    /// expanded to this machine's interface addresses, confirmed observed addresses and relay addresses, filtered.
    /// </summary>
    IReadOnlyList<Multiaddr> AdvertisedAddresses { get; }

    /// <summary>This node's addresses: listen, observed, relay, advertised; raises <see cref="LocalAddressesChanged"/>.</summary>
    IAddressManager AddressManager { get; }

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

    /// <summary>Stops accepting, closes every connection and waits for the host's background work to end.</summary>
    Task StopAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Binds one more address on a started host (e.g. a relay transport's <c>/p2p-circuit</c> once it holds a
    /// reservation) and starts accepting there. Disposing the result stops accepting on it; connections stay.
    /// </summary>
    ValueTask<IHostListener> ListenAsync(Multiaddr address, CancellationToken cancellationToken);

    /// <summary>
    /// Runs work owned by the host (identify on a new connection, a push to every peer): the token is cancelled when
    /// the host stops, <see cref="StopAsync"/> waits for the work to end, and an exception it throws is logged.
    /// </summary>
    void RunInBackground(Func<CancellationToken, Task> work);

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

    /// <summary>
    /// Announces this side of a coordinated simultaneous open before it dials (DCUtR's client learns the server's
    /// addresses from CONNECT but dials only on SYNC): until disposed, a connection from one of
    /// <paramref name="addresses"/> arriving through a listener is upgraded in <paramref name="role"/> and must
    /// authenticate as <paramref name="peer"/>, as the answer to a dial with <see cref="DialOptions.SimultaneousOpenRole"/>
    /// would be. On a loaded machine the server's SYN may come before the client has started dialing; the listener would
    /// take it as an ordinary inbound connection and both sides would act as the server. A dial with a simultaneous-open
    /// role to the same address takes the expectation over.
    /// </summary>
    IDisposable ExpectSimultaneousOpen(PeerId peer, IReadOnlyList<Multiaddr> addresses, Direction role);

    /// <summary>
    /// Dials if needed, then opens a stream negotiating the first supported of <paramref name="protocols"/>. A limited
    /// connection is used only when every protocol opts in to limited connections; otherwise the best direct or
    /// unlimited connection is used, or dialed.
    /// </summary>
    ValueTask<IStream> OpenStreamAsync(PeerId peer, IReadOnlyList<string> protocols, CancellationToken cancellationToken);

    /// <summary>The connections under this host's identity (not those a dial opened with a per-connection identity).</summary>
    IReadOnlyList<IConnection> GetConnections();

    /// <summary>The connections to one peer under this host's identity.</summary>
    IReadOnlyList<IConnection> GetConnections(PeerId peer);

    /// <summary>Closes every connection to the peer.</summary>
    ValueTask DisconnectAsync(PeerId peer, CancellationToken cancellationToken);
}

/// <summary>
/// The dial context: constraints on a dial that reach the host's choice of connection, the transport (see
/// <see cref="ITransport.DialAsync(Multiaddr, DialOptions, CancellationToken)"/>) and the upgrader. A dial with
/// anything but <see cref="Default"/> gets its own attempt rather than sharing a concurrent one.
/// </summary>
public sealed record DialOptions
{
    public static DialOptions Default { get; } = new();

    /// <summary>Security protocols to offer, in preference order (a subset of the registered ones); null offers all.</summary>
    public IReadOnlyList<string>? SecurityProtocols { get; init; }

    /// <summary>Dial a new connection even when a suitable one exists.</summary>
    public bool ForceNewConnection { get; init; }

    /// <summary>
    /// Only a direct connection satisfies the dial: existing connections through a proxy transport (relay, onion) are
    /// not reused and addresses of proxy transports are not dialed. DCUtR dials with it to get off a relay.
    /// </summary>
    public bool ForceDirect { get; init; }

    /// <summary>
    /// A limited connection (<see cref="IConnection.IsLimited"/>) satisfies the dial. Without it, existing limited
    /// connections are not reused, and a new connection that turns out limited fails its attempt with
    /// <see cref="LimitedConnectionException"/> (the host keeps it for protocols that opt in, such as DCUtR).
    /// </summary>
    public bool AllowLimited { get; init; }

    /// <summary>The longest <see cref="Timeout"/> accepted: a day, far past any real dial (a dial's timer takes at most
    /// about 49 days).</summary>
    public static TimeSpan MaxTimeout { get; } = TimeSpan.FromDays(1);

    /// <summary>Budget of this dial as a whole (every address, connect and upgrade); null leaves each attempt its
    /// <c>HostOptions.DialTimeout</c> with no overall bound beyond the caller's token.</summary>
    /// <exception cref="ArgumentOutOfRangeException">Zero or negative, or longer than <see cref="MaxTimeout"/>.</exception>
    public TimeSpan? Timeout
    {
        get;
        init
        {
            // Checked where it is set: zero or negative would make every dial fail at once as a timeout, and a value
            // past the timer's range would throw from deep inside the dial.
            if (value is { } timeout && (timeout <= TimeSpan.Zero || timeout > MaxTimeout))
                throw new ArgumentOutOfRangeException(nameof(Timeout), timeout,
                    $"DialOptions.Timeout must be more than zero and at most {MaxTimeout.TotalHours:0} h (or null for no overall budget)");
            field = value;
        }
    }

    /// <summary>
    /// Marks the dial as one side of a coordinated simultaneous open (DCUtR over TCP: both peers dial each other at
    /// once) and gives this side's role in the upgrade: Outbound is the client (the initiator of every handshake),
    /// Inbound the server. Both peers must agree; DCUtR makes the peer that received the DCUtR stream the client. The
    /// transport dials from its listen port (TCP needs <c>ReusePort</c>), and whichever socket carries the connection
    /// (the dialed one, or the same four-tuple arriving through the listener) is upgraded in this role. The client
    /// must start dialing no later than the server (as DCUtR's timing guarantees). Null: an ordinary dial.
    /// </summary>
    public Direction? SimultaneousOpenRole { get; init; }

    /// <summary>
    /// Dial from a port the system picks even when the transport would dial from its listen port (TCP with
    /// <c>ReusePort</c>). For a dial that must leave no NAT state on the listen port's four-tuple: a connection attempt
    /// that fails there leaves a half-open entry in our NAT's connection table, and a later hole punch to the same peer
    /// address (a new socket, new sequence numbers) then fails on it. DCUtR's unilateral attempt dials with it. Ignored
    /// with <see cref="SimultaneousOpenRole"/>.
    /// </summary>
    public bool FromEphemeralPort { get; init; }

    /// <summary>
    /// Authenticate this connection as another identity than the host's (e.g. an ephemeral key for an anonymous
    /// circuit). Such a connection is private to its dialer: it is not listed by <see cref="IPeerHost.GetConnections()"/>,
    /// raises no peer events, is reused only by dials with the same identity, and identify on it reveals nothing but
    /// that identity's key and protocols (no listen or observed addresses, no signed peer record).
    /// </summary>
    public ILocalIdentity? Identity { get; init; }

    /// <summary>Secured-connection filters (<see cref="ISecuredConnectionFilter.ProtocolId"/>) to negotiate between the
    /// secure channel and the muxer, outermost first; the remote must support each. Empty: none. Null: the host's
    /// defaults (<see cref="IDefaultConnectionFilters"/>, e.g. padding on every connection), none without.</summary>
    public IReadOnlyList<string>? Filters { get; init; }

    /// <summary>Whether an existing connection can serve a dial with these options (the identity is checked by the
    /// host, which knows its own).</summary>
    public bool IsSatisfiedBy(IConnection connection)
    {
        ArgumentNullException.ThrowIfNull(connection);
        return !ForceNewConnection
            && (SecurityProtocols is null || SecurityProtocols.Contains(connection.SecurityProtocol))
            && (!ForceDirect || connection.IsDirect)
            && (AllowLimited || !connection.IsLimited)
            && (Filters is not { Count: > 0 } ? connection.Filters.Count == 0 : connection.Filters.SequenceEqual(Filters));
    }
}

/// <summary>A listen address a started host accepts on; disposing it stops accepting there.</summary>
public interface IHostListener : IAsyncDisposable
{
    /// <summary>The address really bound (the port the system chose for port 0), without /p2p.</summary>
    Multiaddr Address { get; }
}

/// <summary>Events raised by the host; handlers run synchronously on the raising thread and must be quick.</summary>
public interface IEventBus
{
    IDisposable Subscribe<TEvent>(Action<TEvent> handler);

    void Publish<TEvent>(TEvent value);
}

public sealed record PeerConnected(IConnection Connection);

public sealed record PeerDisconnected(IConnection Connection);

/// <summary>A connection with an anonymous remote (<see cref="IConnection.IsAnonymous"/>) was established: it raises
/// no <see cref="PeerConnected"/> (modules reacting to peers must not touch it), only this, for its owner (a shadow
/// service counting uses of an address).</summary>
public sealed record AnonymousConnectionOpened(IConnection Connection);

/// <summary>Identify completed for a peer: its protocols and addresses are in the peer store. <paramref name="Protocols"/>:
/// the protocols the peer just said it serves, as it sent them (the store holds the same set without repeats), so that
/// subscribers asking whether it serves a protocol need not read the store on every new connection; null when the answer
/// left the stored ones as they were.</summary>
public sealed record PeerIdentified(PeerId Peer, IConnection Connection, IReadOnlyList<string>? Protocols = null);

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

/// <summary>The addresses this host advertises changed (a listener, an observed address confirmed or expired, a relay
/// address, a port mapping); identify pushes them to connected peers.</summary>
public sealed record LocalAddressesChanged(IReadOnlyList<Multiaddr> Addresses);

/// <summary>
/// The node's addresses by source, and the advertised set other peers learn (identify, DHT, mDNS). Announce options
/// replace or extend the set; no-announce options and a filter remove addresses from it. Every change of the
/// advertised set publishes <see cref="LocalAddressesChanged"/>.
/// </summary>
public interface IAddressManager
{
    /// <summary>Addresses bound by the host's listeners, without /p2p.</summary>
    IReadOnlyList<Multiaddr> ListenAddresses { get; }

    /// <summary>Addresses other peers saw this node at, confirmed by at least the configured number of distinct
    /// observers (counted by network, so one host with many identities counts once), most confirmed first.</summary>
    IReadOnlyList<Multiaddr> ObservedAddresses { get; }

    /// <summary>Every unexpired observed address, however few observers reported it, most confirmed first: candidates
    /// for uses where a wrong address costs only a failed dial (a hole punch tells the peer where to dial; a node
    /// whose only direct connection is to its relay never collects several observers). Not advertised.</summary>
    IReadOnlyList<Multiaddr> ObservedAddressCandidates => ObservedAddresses;

    /// <summary>Addresses through relays this node holds a reservation on (<c>.../p2p/R/p2p-circuit</c>).</summary>
    IReadOnlyList<Multiaddr> RelayAddresses { get; }

    /// <summary>What this node tells other peers to dial, without /p2p.</summary>
    IReadOnlyList<Multiaddr> AdvertisedAddresses { get; }

    /// <summary>
    /// Records that the remote of <paramref name="connection"/> saw this node at <paramref name="observed"/> (identify's
    /// observed address). Only direct connections under the host's identity count, and only when the connection's
    /// local address is a listen address (inbound, or dialed from the listen port): other ports cannot be dialed back.
    /// </summary>
    void RecordObservedAddress(IConnection connection, Multiaddr observed);

    /// <summary>Adds a relay address (the relay module, once it holds a reservation); returns false if present.</summary>
    bool AddRelayAddress(Multiaddr address);

    /// <summary>Removes a relay address (the reservation ended); returns false if absent.</summary>
    bool RemoveRelayAddress(Multiaddr address);

    /// <summary>Addresses a gateway forwards to this node (port mapping: UPnP IGD, PCP, NAT-PMP), without /p2p.</summary>
    IReadOnlyList<Multiaddr> MappedAddresses => [];

    /// <summary>
    /// Replaces the mapped addresses (the port mapping module, whenever its mappings change: made, renewed to another
    /// port, lost, removed). They are advertised like confirmed observed addresses, unless a reachability check found
    /// them private. The default implementation ignores them.
    /// </summary>
    void SetMappedAddresses(IReadOnlyList<Multiaddr> addresses)
    {
    }

    /// <summary>Addresses announced instead of the listen, mapped, observed and relay addresses (from
    /// <c>HostOptions.AnnounceAddresses</c> at start, then <see cref="SetAnnounceAddresses"/>); empty: none.</summary>
    IReadOnlyList<Multiaddr> AnnounceAddresses => [];

    /// <summary>
    /// Replaces the announce addresses at run time (empty: advertise the listen, mapped, observed and relay addresses
    /// again). A change of the advertised set publishes <see cref="LocalAddressesChanged"/>, so identify pushes it and
    /// whatever publishes the node's addresses (relay descriptors, records) sees it. The default implementation
    /// ignores them.
    /// </summary>
    void SetAnnounceAddresses(IReadOnlyList<Multiaddr> addresses)
    {
    }

    /// <summary>
    /// Records what a reachability check (AutoNAT) found for one of this node's addresses: an address found
    /// <see cref="Reachability.Private"/> is no longer advertised, one found <see cref="Reachability.Public"/> is
    /// advertised even before enough observers confirmed it, <see cref="Reachability.Unknown"/> forgets the verdict.
    /// The default implementation ignores it.
    /// </summary>
    void SetReachability(Multiaddr address, Reachability reachability)
    {
    }

    /// <summary>The verdicts recorded with <see cref="SetReachability"/>.</summary>
    IReadOnlyDictionary<Multiaddr, Reachability> Reachabilities => new Dictionary<Multiaddr, Reachability>();
}

/// <summary>Whether other peers can dial an address (or the node) directly, as reachability checks found.</summary>
public enum Reachability
{
    Unknown,
    Public,
    Private,
}
