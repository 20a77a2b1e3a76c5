using System.Net;

namespace P2PStack.Registry;

/// <summary>Who may call the read endpoints (GET /nodes, /nodes/{id}, /topology, /graph, /prometheus/targets, /events).</summary>
public enum ReadAccess
{
    /// <summary>Loopback clients read freely; others need a bearer token or a request signed by a sovereign or an approved node.</summary>
    LoopbackOpen,

    /// <summary>Everyone needs a bearer token or a signed request, loopback included (e.g. behind a reverse proxy on the same machine).</summary>
    Authenticated,

    /// <summary>Anyone who can reach the port reads (a registry inside a private network).</summary>
    Open,
}

/// <summary>Which metrics URLs a node may report (they become Prometheus scrape targets).</summary>
public enum MetricsTargetPolicy
{
    /// <summary>The URL's host must be the IP address the request came from (loopback clients may name any loopback address).</summary>
    SourceAddress,

    /// <summary>Any http or https URL (only where every node is trusted: approval is still needed to become a target).</summary>
    Any,
}

/// <summary>Everything the registry service can be told: where it listens, its limits, its security policy.</summary>
public sealed class RegistryOptions
{
    /// <summary>Default port (the seed's MESH_PORT default).</summary>
    public const int DefaultPort = 8190;

    /// <summary>Address Kestrel binds.</summary>
    public IPAddress ListenAddress { get; set; } = IPAddress.Any;

    /// <summary>Port; 0 lets the system pick one (tests).</summary>
    public int Port { get; set; } = DefaultPort;

    /// <summary>The SQLite database file (created when missing).</summary>
    public string DatabasePath { get; set; } = "registry.db";

    /// <summary>SQLite busy timeout (another process holding the database).</summary>
    public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Sovereign keys given by the operator (peer ids or base64url public key protobufs); added at start.</summary>
    public List<string> InitialSovereigns { get; } = [];

    /// <summary>An approved node with no heartbeat for this long is marked offline (the seed's 5 minutes).</summary>
    public TimeSpan OfflineAfter { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How often the sweep runs (offline marking, pruning of nonces, heartbeats and silent pending nodes).</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How long heartbeat history is kept.</summary>
    public TimeSpan HeartbeatRetention { get; set; } = TimeSpan.FromHours(1);

    /// <summary>A pending node silent for this long is forgotten (free identities cannot fill the table).</summary>
    public TimeSpan PendingRetention { get; set; } = TimeSpan.FromHours(24);

    /// <summary>A signed request's timestamp may differ from the registry's clock by at most this much.</summary>
    public TimeSpan TimestampWindow { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Most nonces remembered at once (the replay cache); beyond it signed requests are refused with 503.</summary>
    public int MaxNonces { get; set; } = 1_000_000;

    /// <summary>Most nodes in the table.</summary>
    public int MaxNodes { get; set; } = 100_000;

    /// <summary>Most pending (undecided) nodes; registrations beyond it are refused with 503.</summary>
    public int MaxPendingNodes { get; set; } = 10_000;

    public int MaxAddressesPerNode { get; set; } = 32;

    public int MaxServicesPerNode { get; set; } = 32;

    public int MaxMetadataEntries { get; set; } = 32;

    /// <summary>Most connections one heartbeat may report.</summary>
    public int MaxConnectionsPerHeartbeat { get; set; } = 256;

    /// <summary>Longest string field (name, address, URL, metadata value).</summary>
    public int MaxFieldLength { get; set; } = 512;

    /// <summary>Largest request body accepted (413 beyond).</summary>
    public long MaxRequestBodyBytes { get; set; } = 64 * 1024;

    /// <summary>Requests per second one client address (IPv6: its /64) may make on average.</summary>
    public int RateLimitPerSecond { get; set; } = 20;

    /// <summary>Requests one client address may make in a burst.</summary>
    public int RateLimitBurst { get; set; } = 100;

    /// <summary>Most simultaneous connections.</summary>
    public int MaxConnections { get; set; } = 2048;

    public ReadAccess ReadAccess { get; set; } = ReadAccess.LoopbackOpen;

    /// <summary>Bearer tokens accepted on read endpoints.</summary>
    public List<string> ReadTokens { get; } = [];

    public MetricsTargetPolicy MetricsTargets { get; set; } = MetricsTargetPolicy.SourceAddress;

    /// <summary>Browser origins allowed to read cross-origin (CORS); empty: CORS off.</summary>
    public List<string> CorsOrigins { get; } = [];

    /// <summary>Most clients on the event stream at once.</summary>
    public int MaxEventSubscribers { get; set; } = 64;

    /// <summary>Events buffered per subscriber; a subscriber that falls further behind is disconnected (it reconnects and reloads).</summary>
    public int EventBufferPerSubscriber { get; set; } = 256;

    /// <summary>Comment line sent on an idle event stream, so proxies and clients see it alive.</summary>
    public TimeSpan EventKeepAlive { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>New nodes start approved (a registry for a trusted lab network); off by default: admission control.</summary>
    public bool AutoApprove { get; set; }

    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Checks the values; the message names the wrong one.</summary>
    public RegistryOptions Validate()
    {
        if (Port is < 0 or > 65535) throw new ArgumentOutOfRangeException(nameof(Port), Port, "port must be 0-65535");
        if (string.IsNullOrWhiteSpace(DatabasePath)) throw new ArgumentException("DatabasePath is empty", nameof(DatabasePath));
        Positive(OfflineAfter, nameof(OfflineAfter));
        Positive(SweepInterval, nameof(SweepInterval));
        Positive(TimestampWindow, nameof(TimestampWindow));
        Positive(HeartbeatRetention, nameof(HeartbeatRetention));
        Positive(PendingRetention, nameof(PendingRetention));
        Positive(EventKeepAlive, nameof(EventKeepAlive));
        foreach (var (value, name) in new[]
        {
            (MaxNonces, nameof(MaxNonces)), (MaxNodes, nameof(MaxNodes)), (MaxPendingNodes, nameof(MaxPendingNodes)),
            (MaxAddressesPerNode, nameof(MaxAddressesPerNode)), (MaxServicesPerNode, nameof(MaxServicesPerNode)),
            (MaxMetadataEntries, nameof(MaxMetadataEntries)), (MaxConnectionsPerHeartbeat, nameof(MaxConnectionsPerHeartbeat)),
            (MaxFieldLength, nameof(MaxFieldLength)), (RateLimitPerSecond, nameof(RateLimitPerSecond)), (RateLimitBurst, nameof(RateLimitBurst)),
            (MaxConnections, nameof(MaxConnections)), (MaxEventSubscribers, nameof(MaxEventSubscribers)),
            (EventBufferPerSubscriber, nameof(EventBufferPerSubscriber)),
        })
        {
            if (value < 1) throw new ArgumentOutOfRangeException(name, value, $"{name} must be at least 1");
        }
        if (MaxRequestBodyBytes < 1024) throw new ArgumentOutOfRangeException(nameof(MaxRequestBodyBytes), MaxRequestBodyBytes, "at least 1024 bytes");
        if (ReadTokens.Any(t => t.Length < 16)) throw new ArgumentException("read tokens must be at least 16 characters", nameof(ReadTokens));
        return this;
    }

    private static void Positive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive");
    }
}
