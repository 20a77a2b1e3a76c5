using System.Text.Json;
using System.Text.Json.Serialization;

namespace P2PStack.Registry;

/// <summary>JSON shapes of the registry API (docs/specs/registry.md). Property names are camelCase on the wire.</summary>
public static class RegistryJson
{
    public static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
        MaxDepth = 16,
    };
}

/// <summary>Where a node stands: <c>pending</c> until a sovereign decides; <c>active</c> or <c>offline</c> once approved.</summary>
public static class NodeStatus
{
    public const string Pending = "pending";
    public const string Active = "active";
    public const string Offline = "offline";
    public const string Denied = "denied";

    public static readonly IReadOnlyList<string> All = [Pending, Active, Offline, Denied];
}

/// <summary>A service a node offers (a libp2p protocol id, or a port of its own).</summary>
public sealed record ServiceInfo(string Name, string? Protocol = null, int? Port = null);

/// <summary>POST /register: the node's self-description; the node id is the signer's peer id.</summary>
public sealed record RegisterRequest
{
    /// <summary>Optional; when given it must be the signer's peer id.</summary>
    public string? NodeId { get; init; }

    public string? Name { get; init; }

    /// <summary>Dialable multiaddrs.</summary>
    public IReadOnlyList<string> Addresses { get; init; } = [];

    public IReadOnlyList<ServiceInfo> Services { get; init; } = [];

    /// <summary>Where Prometheus scrapes the node (http or https URL).</summary>
    public string? MetricsUrl { get; init; }

    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
}

/// <summary>Round-trip time statistics of one link, in milliseconds.</summary>
public sealed record RttStats(double Current, double Min, double Max, double Avg);

/// <summary>One of the reporting node's connections.</summary>
public sealed record ConnectionReport(string PeerId, RttStats? RttMs = null, string? LocalAddress = null, string? RemoteAddress = null);

/// <summary>POST /heartbeat: the node is alive; its connections replace the ones it reported before.</summary>
public sealed record HeartbeatRequest
{
    public IReadOnlyList<ConnectionReport> Connections { get; init; } = [];

    /// <summary>Replaces the registered addresses when given.</summary>
    public IReadOnlyList<string>? Addresses { get; init; }

    /// <summary>Replaces the registered metrics URL when given.</summary>
    public string? MetricsUrl { get; init; }
}

/// <summary>POST /approve/{id} and /deny/{id}.</summary>
public sealed record DecisionRequest(string? Reason = null);

/// <summary>POST /sovereign/add: a libp2p public key (base64url protobuf) or a peer id.</summary>
public sealed record SovereignAddRequest(string Key, string? Label = null);

public sealed record SovereignView(string PeerId, string? Label, string? AddedBy, DateTimeOffset AddedAt);

/// <summary>A node as the registry shows it.</summary>
public sealed record NodeView
{
    public required string Id { get; init; }
    public string? Name { get; init; }
    public required string Status { get; init; }
    public IReadOnlyList<string> Addresses { get; init; } = [];
    public IReadOnlyList<ServiceInfo> Services { get; init; } = [];
    public string? MetricsUrl { get; init; }
    public IReadOnlyDictionary<string, string>? Metadata { get; init; }
    public DateTimeOffset RegisteredAt { get; init; }
    public DateTimeOffset LastSeen { get; init; }
    public string? DecidedBy { get; init; }
    public DateTimeOffset? DecidedAt { get; init; }
    public string? Reason { get; init; }
    public int ConnectedPeers { get; init; }

    /// <summary>Only in GET /nodes/{id}: the connections of the last heartbeat.</summary>
    public IReadOnlyList<ConnectionReport>? Connections { get; init; }
}

public sealed record NodeList(IReadOnlyList<NodeView> Nodes, int Count);

/// <summary>A link between two registered nodes, as reported by one of them.</summary>
public sealed record TopologyLink(string Source, string Target, RttStats? RttMs, string ReportedBy, DateTimeOffset ReportedAt, bool Stale);

public sealed record Topology(IReadOnlyList<NodeView> Nodes, IReadOnlyList<TopologyLink> Links, DateTimeOffset GeneratedAt);

/// <summary>The answer of register, heartbeat, approve, deny.</summary>
public sealed record NodeStatusResponse(string NodeId, string Status);

/// <summary>The body of every refusal.</summary>
public sealed record RegistryError(string Error);

/// <summary>One entry of the live event stream (GET /events, server-sent events, event name = <see cref="Type"/>).</summary>
public sealed record RegistryEvent(string Type, string? NodeId, string? Status, DateTimeOffset At);

/// <summary>Event types of the live stream.</summary>
public static class RegistryEventTypes
{
    public const string Register = "register";
    public const string Approve = "approve";
    public const string Deny = "deny";
    public const string Online = "online";
    public const string Offline = "offline";
    public const string Topology = "topology";
    public const string Sovereign = "sovereign";
}
