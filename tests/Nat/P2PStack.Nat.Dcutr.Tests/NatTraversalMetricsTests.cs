using System.Diagnostics.Metrics;

namespace P2PStack.Nat.Dcutr.Tests;

/// <summary>The NAT traversal outcomes: counted by method and path, and the rates derived from them.</summary>
public sealed class NatTraversalMetricsTests : IDisposable
{
    private readonly ScopedMeterFactory _factory = new();
    private readonly MeterListener _listener = new();
    private readonly Dictionary<string, long> _counter = [];
    private readonly Dictionary<string, double> _gauges = [];
    private readonly NatTraversalMetrics _metrics;

    public NatTraversalMetricsTests()
    {
        var factory = _factory;
        // Only this test's meter: other tests record traversals at the same time.
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == NatTraversalMetrics.MeterName && ReferenceEquals(instrument.Meter.Scope, factory))
                listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            lock (_counter)
            {
                string key = $"{instrument.Name}{{{Tag(tags, "method")},{Tag(tags, "path")}}}";
                _counter[key] = _counter.GetValueOrDefault(key) + value;
            }
        });
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) =>
        {
            lock (_gauges) _gauges[$"{instrument.Name}{{{Tag(tags, "method")}}}"] = value;
        });
        _listener.Start();
        _metrics = new NatTraversalMetrics(factory);
    }

    private static string? Tag(ReadOnlySpan<KeyValuePair<string, object?>> tags, string name)
    {
        foreach (var tag in tags)
        {
            if (tag.Key == name) return tag.Value as string;
        }
        return null;
    }

    [Fact]
    public void OutcomesAreCountedByMethodAndPath()
    {
        _metrics.Record("dcutr", NatTraversalPath.Direct);
        _metrics.Record("dcutr", NatTraversalPath.Direct);
        _metrics.Record("dcutr", NatTraversalPath.Direct);
        _metrics.Record("dcutr", NatTraversalPath.Relayed);
        _metrics.Record("auto", NatTraversalPath.Failed);
        _metrics.Record("turn", NatTraversalPath.Relayed);

        Assert.Equal(3, _counter["p2pstack_nat_traversals_total{dcutr,direct}"]);
        Assert.Equal(1, _counter["p2pstack_nat_traversals_total{dcutr,relayed}"]);
        Assert.Equal(1, _counter["p2pstack_nat_traversals_total{auto,failed}"]);
        Assert.Equal(1, _counter["p2pstack_nat_traversals_total{turn,relayed}"]);
        Assert.Equal(4, _counter.Count);

        Assert.Equal(new NatTraversalCounts(3, 1, 0), _metrics.Counts("dcutr"));
        Assert.Equal(new NatTraversalCounts(0, 0, 1), _metrics.Counts("auto"));
        Assert.Equal(new NatTraversalCounts(0, 0, 0), _metrics.Counts("stun"));
        Assert.Equal(["auto", "dcutr", "turn"], _metrics.Snapshot().Keys.Order());
    }

    [Fact]
    public void RatesAreTheSharesOfReachedAndDirectOutcomes()
    {
        foreach (var path in new[] { NatTraversalPath.Direct, NatTraversalPath.Direct, NatTraversalPath.Relayed, NatTraversalPath.Failed })
            _metrics.Record("auto", path);
        _metrics.Record("dcutr", NatTraversalPath.Relayed);

        var auto = _metrics.Counts("auto");
        Assert.Equal(4, auto.Total);
        Assert.Equal(0.75, auto.SuccessRate);
        Assert.Equal(0.5, auto.DirectRate);
        Assert.Null(_metrics.Counts("stun").SuccessRate);

        _listener.RecordObservableInstruments();
        Assert.Equal(0.75, _gauges["p2pstack_nat_traversal_success_ratio{auto}"]);
        Assert.Equal(0.5, _gauges["p2pstack_nat_traversal_direct_ratio{auto}"]);
        Assert.Equal(1.0, _gauges["p2pstack_nat_traversal_success_ratio{dcutr}"]);
        Assert.Equal(0.0, _gauges["p2pstack_nat_traversal_direct_ratio{dcutr}"]);
        Assert.DoesNotContain(_gauges.Keys, k => k.EndsWith("{stun}", StringComparison.Ordinal)); // no outcomes, no rate
    }

    [Fact]
    public void AnUnknownMethodIsRefused()
    {
        // Label values stay bounded: a method outside the list is a programming error, not a new series.
        Assert.Throws<ArgumentException>(() => _metrics.Record("ice", NatTraversalPath.Direct));
        Assert.Empty(_counter);
    }

    public void Dispose()
    {
        _listener.Dispose();
        _metrics.Dispose();
        _factory.Dispose();
    }

    /// <summary>A container's meter factory in miniature: its meters carry it as their scope.</summary>
    private sealed class ScopedMeterFactory : IMeterFactory
    {
        private readonly List<Meter> _meters = [];

        public Meter Create(MeterOptions options)
        {
            var meter = new Meter(new MeterOptions(options.Name) { Version = options.Version, Tags = options.Tags, Scope = this });
            lock (_meters) _meters.Add(meter);
            return meter;
        }

        public void Dispose()
        {
            lock (_meters) _meters.ForEach(m => m.Dispose());
        }
    }
}
