using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using P2PStack.Diagnostics;

namespace P2PStack.Trust;

/// <summary>Refusals by the trust module, kept for status output and mirrored on the meter <c>P2PStack.Trust</c>.</summary>
public sealed class TrustMetrics : ModuleMetrics
{
    public const string MeterName = "P2PStack.Trust";

    private readonly Counter<long> _connections;
    private readonly Counter<long> _discoveries;
    private readonly ConcurrentDictionary<(string Stage, string Reason), long> _connectionCounts = new();
    private readonly ConcurrentDictionary<(string Source, string Reason), long> _discoveryCounts = new();

    public TrustMetrics(IMeterFactory? factory) : base(factory, MeterName)
    {
        _connections = Meter.CreateCounter<long>("p2pstack_trust_connections_refused_total", "{connection}",
            "Connections refused by the security level, by stage (dial, secured) and reason");
        _discoveries = Meter.CreateCounter<long>("p2pstack_trust_discoveries_refused_total", "{announcement}",
            "Discovered peers or LAN announcements ignored by the security level, by source and reason");
    }

    public void ConnectionRefused(string stage, string reason)
    {
        _connectionCounts.AddOrUpdate((stage, reason), 1, (_, n) => n + 1);
        _connections.Add(1, new KeyValuePair<string, object?>("stage", stage), new KeyValuePair<string, object?>("reason", reason));
    }

    public void DiscoveryRefused(string source, string reason)
    {
        _discoveryCounts.AddOrUpdate((source, reason), 1, (_, n) => n + 1);
        _discoveries.Add(1, new KeyValuePair<string, object?>("source", source), new KeyValuePair<string, object?>("reason", reason));
    }

    public IReadOnlyDictionary<(string Stage, string Reason), long> ConnectionsRefused => _connectionCounts;

    public IReadOnlyDictionary<(string Source, string Reason), long> DiscoveriesRefused => _discoveryCounts;
}
