namespace P2PStack.Metrics;

/// <summary>What a <see cref="PrometheusExporter"/> collects and how much of it.</summary>
public sealed class PrometheusExporterOptions
{
    /// <summary>Meters whose name starts with this prefix are exported (ordinal comparison).</summary>
    public string MeterPrefix { get; set; } = MeterNames.Prefix;

    /// <summary>
    /// When set, only meters created by this <see cref="System.Diagnostics.Metrics.IMeterFactory"/> (their
    /// <c>Scope</c>) and meters with no scope are exported: several hosts in one process each export their own.
    /// When null, every matching meter is exported.
    /// </summary>
    public object? Scope { get; set; }

    /// <summary>
    /// Label sets kept per metric. Further label sets are dropped (and counted in
    /// <c>p2pstack_metrics_series_dropped_total</c>), so that a label fed by remote input cannot grow memory without bound.
    /// </summary>
    public int MaxSeriesPerMetric { get; set; } = 1000;

    /// <summary>Histogram bucket bounds for instruments in seconds that give no bucket advice (Prometheus's defaults).</summary>
    public IReadOnlyList<double> DefaultSecondsBuckets { get; set; } = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    /// <summary>Histogram bucket bounds for other instruments that give no bucket advice (OpenTelemetry's defaults).</summary>
    public IReadOnlyList<double> DefaultBuckets { get; set; } = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000];
}

/// <summary>Names of the meters P2PStack modules create.</summary>
public static class MeterNames
{
    /// <summary>Every P2PStack meter name starts with this.</summary>
    public const string Prefix = "P2PStack.";

    public const string Host = "P2PStack.Host";

    public const string Kademlia = "P2PStack.Kademlia";

    public const string GossipSub = "P2PStack.GossipSub";

    public const string Neural = "P2PStack.Neural";
}
