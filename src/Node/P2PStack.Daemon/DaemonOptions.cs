using P2PStack.Addressing;

namespace P2PStack.Daemon;

/// <summary>The control socket of the daemon: where it listens, and the limits of what a client may ask.</summary>
public sealed class DaemonOptions
{
    /// <summary>go-libp2p-daemon's default control socket.</summary>
    public static readonly Multiaddr DefaultControlAddress = Multiaddr.Parse("/unix/tmp/p2pd.sock");

    /// <summary>Control socket: <c>/unix/PATH</c> or <c>/ip4|ip6/ADDR/tcp/PORT</c> (port 0 picks a free port).</summary>
    public Multiaddr ControlAddress { get; set; } = DefaultControlAddress;

    /// <summary>
    /// Whether a TCP control socket may bind a non-loopback address. The control protocol has no authentication:
    /// whoever reaches the socket drives the node, so only loopback is allowed unless this is set.
    /// </summary>
    public bool AllowNonLoopbackControl { get; set; }

    /// <summary>Largest control message read (the js daemon's limit: 4 MiB).</summary>
    public int MaxRequestSize { get; set; } = 4 * 1024 * 1024;

    /// <summary>Control connections open at once (requests, proxied streams and subscriptions together).</summary>
    public int MaxControlConnections { get; set; } = 1024;

    /// <summary>How long a control connection may stay idle before its next request; it is closed after that.</summary>
    public TimeSpan RequestReadTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Time limit of an operation (connect, stream open, DHT query) when the request gives none.</summary>
    public TimeSpan DefaultOperationTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Longest time limit a request may ask for.</summary>
    public TimeSpan MaxOperationTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Time to reach a client's stream handler address and hand it an inbound stream.</summary>
    public TimeSpan HandlerDialTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Protocols that may have a client stream handler registered at once.</summary>
    public int MaxStreamHandlers { get; set; } = 256;

    /// <summary>How long the addresses a CONNECT request names stay in the peer store.</summary>
    public TimeSpan ConnectAddressTtl { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Providers a FIND_PROVIDERS request returns when it gives no count (the js daemon's default).</summary>
    public int DefaultProviderCount { get; set; } = 20;

    /// <summary>Largest count a FIND_PROVIDERS request may ask for.</summary>
    public int MaxProviderCount { get; set; } = 1000;

    /// <summary>Longest connection manager tag accepted.</summary>
    public int MaxTagLength { get; set; } = 256;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first bad setting.</summary>
    public void Validate()
    {
        ArgumentNullException.ThrowIfNull(ControlAddress);
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRequestSize, 1024, nameof(MaxRequestSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxControlConnections, 1, nameof(MaxControlConnections));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(RequestReadTimeout, TimeSpan.Zero, nameof(RequestReadTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(DefaultOperationTimeout, TimeSpan.Zero, nameof(DefaultOperationTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxOperationTimeout, DefaultOperationTimeout, nameof(MaxOperationTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(HandlerDialTimeout, TimeSpan.Zero, nameof(HandlerDialTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxStreamHandlers, 1, nameof(MaxStreamHandlers));
        ArgumentOutOfRangeException.ThrowIfLessThan(DefaultProviderCount, 1, nameof(DefaultProviderCount));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxProviderCount, DefaultProviderCount, nameof(MaxProviderCount));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxTagLength, 1, nameof(MaxTagLength));
    }
}
