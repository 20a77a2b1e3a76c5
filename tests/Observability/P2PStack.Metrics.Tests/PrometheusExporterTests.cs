using System.Diagnostics.Metrics;

namespace P2PStack.Metrics.Tests;

public sealed class PrometheusExporterTests
{
    // Each test gets its own meter prefix, so that instruments of tests running in parallel never mix.
    private readonly string _prefix = $"P2PStackTest{Guid.NewGuid():N}.";

    private PrometheusExporter NewExporter(int maxSeries = 1000) =>
        new(new PrometheusExporterOptions { MeterPrefix = _prefix, MaxSeriesPerMetric = maxSeries });

    [Fact]
    public void OutputConformsToTheTextFormat()
    {
        using var meter = new Meter(_prefix + "Format");
        using var exporter = NewExporter();
        var requests = meter.CreateCounter<long>("test.requests", description: "Requests\nserved \\ by kind");
        var sent = meter.CreateCounter<long>("test_sent", "By");
        var inFlight = meter.CreateUpDownCounter<int>("test_in_flight");
        var latency = meter.CreateHistogram<double>("test.latency", "s");
        meter.CreateObservableGauge("test_temperature", () => new Measurement<double>(-1.5, new KeyValuePair<string, object?>("room", "a")));
        meter.CreateObservableCounter("test_ticks_total", () => 42L);

        string tricky = "quote\" backslash\\ newline\n end";
        requests.Add(3, new KeyValuePair<string, object?>("kind", tricky));
        requests.Add(2, new KeyValuePair<string, object?>("kind", "plain"), new KeyValuePair<string, object?>("le.gacy", 7));
        sent.Add(1000);
        sent.Add(24);
        inFlight.Add(5);
        inFlight.Add(-2);
        foreach (var value in new[] { 0.001, 0.005, 0.2, 0.2, 3, 60 }) latency.Record(value, new KeyValuePair<string, object?>("type", "x"));

        string text = exporter.Render();
        var families = PrometheusTextParser.Parse(text);

        var requestFamily = families["test_requests_total"];
        Assert.Equal("counter", requestFamily.Type);
        Assert.Equal("Requests\nserved \\ by kind", requestFamily.Help);
        Assert.Equal(3, requestFamily.Samples.Single(s => s.Label("kind") == tricky).Value);
        var plain = requestFamily.Samples.Single(s => s.Label("kind") == "plain");
        Assert.Equal("7", plain.Label("le_gacy"));

        Assert.Equal(1024, Assert.Single(families["test_sent_bytes_total"].Samples).Value);
        Assert.Equal("gauge", families["test_in_flight"].Type);
        Assert.Equal(3, Assert.Single(families["test_in_flight"].Samples).Value);
        Assert.Equal(-1.5, Assert.Single(families["test_temperature"].Samples).Value);
        Assert.Equal("a", families["test_temperature"].Samples[0].Label("room"));
        Assert.Equal("counter", families["test_ticks_total"].Type);
        Assert.Equal(42, Assert.Single(families["test_ticks_total"].Samples).Value);

        var histogram = families["test_latency_seconds"];
        Assert.Equal("histogram", histogram.Type);
        double Bucket(string le) => histogram.Samples.Single(s => s.Name == "test_latency_seconds_bucket" && s.Label("le") == le).Value;
        Assert.Equal(2, Bucket("0.005")); // le is inclusive
        Assert.Equal(2, Bucket("0.1"));
        Assert.Equal(4, Bucket("0.25"));
        Assert.Equal(5, Bucket("5"));
        Assert.Equal(5, Bucket("10"));
        Assert.Equal(6, Bucket("+Inf"));
        Assert.Equal(6, histogram.Samples.Single(s => s.Name == "test_latency_seconds_count").Value);
        Assert.Equal(63.406, histogram.Samples.Single(s => s.Name == "test_latency_seconds_sum").Value, 9);
        Assert.All(histogram.Samples, s => Assert.Equal("x", s.Label("type")));

        Assert.Contains("# TYPE test_latency_seconds histogram\n", text);
        Assert.Equal(0, Assert.Single(families[PrometheusExporter.DroppedSeriesMetric].Samples).Value);
    }

    [Fact]
    public void HistogramBucketAdviceIsUsed()
    {
        using var meter = new Meter(_prefix + "Advice");
        using var exporter = NewExporter();
        var sizes = meter.CreateHistogram("test_size", "By", null, null, new InstrumentAdvice<long> { HistogramBucketBoundaries = [10, 100] });
        sizes.Record(10);
        sizes.Record(11);
        sizes.Record(1000);
        var family = PrometheusTextParser.Parse(exporter.Render())["test_size_bytes"];
        Assert.Equal(["10", "100", "+Inf"], family.Samples.Where(s => s.Name.EndsWith("_bucket")).Select(s => s.Label("le")));
        Assert.Equal([1.0, 2, 3], family.Samples.Where(s => s.Name.EndsWith("_bucket")).Select(s => s.Value));
    }

    [Fact]
    public void TagOrderDoesNotSplitASeries()
    {
        using var meter = new Meter(_prefix + "Order");
        using var exporter = NewExporter();
        var counter = meter.CreateCounter<int>("test_hits");
        counter.Add(1, new KeyValuePair<string, object?>("a", "1"), new KeyValuePair<string, object?>("b", "2"));
        counter.Add(1, new KeyValuePair<string, object?>("b", "2"), new KeyValuePair<string, object?>("a", "1"));
        // Different tags that print the same labels share the series rather than printing it twice.
        counter.Add(1, new KeyValuePair<string, object?>("b", 2), new KeyValuePair<string, object?>("a", 1));
        var sample = Assert.Single(PrometheusTextParser.Parse(exporter.Render())["test_hits_total"].Samples);
        Assert.Equal(3, sample.Value);
    }

    [Fact]
    public void LabelSetsAreCappedPerMetric()
    {
        using var meter = new Meter(_prefix + "Cap");
        using var exporter = NewExporter(maxSeries: 3);
        var counter = meter.CreateCounter<long>("test_by_peer");
        for (int i = 0; i < 5; i++) counter.Add(1, new KeyValuePair<string, object?>("peer", $"p{i}"));
        counter.Add(1, new KeyValuePair<string, object?>("peer", "p0")); // known series still count
        var families = PrometheusTextParser.Parse(exporter.Render());
        Assert.Equal(3, families["test_by_peer_total"].Samples.Count);
        Assert.Equal(2, families["test_by_peer_total"].Samples.Single(s => s.Label("peer") == "p0").Value);
        Assert.Equal(2, exporter.DroppedMeasurements);
        Assert.Equal(2, Assert.Single(families[PrometheusExporter.DroppedSeriesMetric].Samples).Value);
    }

    [Fact]
    public void ObservedSeriesFollowTheCallbackAndCountersKeepCounting()
    {
        using var meter = new Meter(_prefix + "Observed");
        using var exporter = NewExporter();
        var peers = new List<string> { "a", "b" };
        meter.CreateObservableGauge("test_peer_up", () => peers.Select(p => new Measurement<int>(1, new KeyValuePair<string, object?>("peer", p))));
        var counter = meter.CreateCounter<long>("test_events");
        counter.Add(2);
        var first = PrometheusTextParser.Parse(exporter.Render());
        Assert.Equal(["a", "b"], first["test_peer_up"].Samples.Select(s => s.Label("peer")).Order());

        peers.Remove("a");
        counter.Add(3);
        var second = PrometheusTextParser.Parse(exporter.Render());
        Assert.Equal("b", Assert.Single(second["test_peer_up"].Samples).Label("peer"));
        Assert.Equal(5, Assert.Single(second["test_events_total"].Samples).Value);
    }

    [Fact]
    public void OnlyMetersOfTheScopeAndUnscopedMetersAreExported()
    {
        object mine = new(), theirs = new();
        using var scoped = new Meter(_prefix + "Scoped", null, null, mine);
        using var other = new Meter(_prefix + "Scoped", null, null, theirs);
        using var unscoped = new Meter(_prefix + "Unscoped");
        using var outside = new Meter("Other." + _prefix);
        using var exporter = new PrometheusExporter(new PrometheusExporterOptions { MeterPrefix = _prefix, Scope = mine });
        scoped.CreateCounter<int>("test_count").Add(1);
        other.CreateCounter<int>("test_count").Add(10);
        unscoped.CreateCounter<int>("test_shared").Add(100);
        outside.CreateCounter<int>("test_outside").Add(1000);
        var families = PrometheusTextParser.Parse(exporter.Render());
        Assert.Equal(1, Assert.Single(families["test_count_total"].Samples).Value);
        Assert.Equal(100, Assert.Single(families["test_shared_total"].Samples).Value);
        Assert.False(families.ContainsKey("test_outside_total"));
    }

    [Fact]
    public void InstrumentsOfOneNameFromTwoMetersMergeAndKindConflictsAreSkipped()
    {
        using var first = new Meter(_prefix + "One");
        using var second = new Meter(_prefix + "Two");
        using var exporter = NewExporter();
        first.CreateCounter<long>("test_merged").Add(1);
        second.CreateCounter<long>("test_merged").Add(2);
        first.CreateObservableCounter("test_observed", () => 5L);
        second.CreateObservableCounter("test_observed", () => 6L);
        second.CreateHistogram<double>("test_merged_total").Record(1); // a histogram cannot join a counter family
        var families = PrometheusTextParser.Parse(exporter.Render());
        Assert.Equal(3, Assert.Single(families["test_merged_total"].Samples).Value);
        Assert.Equal(11, Assert.Single(families["test_observed_total"].Samples).Value);
        Assert.Equal(1, exporter.ConflictingInstruments);
    }

    [Fact]
    public async Task ConcurrentRecordingLosesNothing()
    {
        using var meter = new Meter(_prefix + "Concurrent");
        using var exporter = NewExporter();
        var counter = meter.CreateCounter<long>("test_parallel");
        var histogram = meter.CreateHistogram<double>("test_parallel_latency", "s");
        var scrapes = Task.Run(() =>
        {
            for (int i = 0; i < 20; i++) PrometheusTextParser.Parse(exporter.Render());
        });
        await Task.WhenAll(Enumerable.Range(0, 4).Select(t => Task.Run(() =>
        {
            for (int i = 0; i < 10_000; i++)
            {
                counter.Add(1, new KeyValuePair<string, object?>("worker", t % 2));
                histogram.Record(0.01);
            }
        })).Append(scrapes));
        var families = PrometheusTextParser.Parse(exporter.Render());
        Assert.Equal(40_000, families["test_parallel_total"].Samples.Sum(s => s.Value));
        Assert.Equal(40_000, families["test_parallel_latency_seconds"].Samples.Single(s => s.Name.EndsWith("_count")).Value);
    }

    [Theory]
    [InlineData("p2pstack.host.dials", null, true, "p2pstack_host_dials_total")]
    [InlineData("p2pstack_bytes_sent_total", "By", true, "p2pstack_bytes_sent_total")]
    [InlineData("p2pstack_rtt", "s", false, "p2pstack_rtt_seconds")]
    [InlineData("p2pstack_rtt_seconds", "s", false, "p2pstack_rtt_seconds")]
    [InlineData("queue-depth", "{message}", false, "queue_depth")]
    [InlineData("9lives", "ms", false, "_9lives_milliseconds")]
    public void InstrumentNamesBecomePrometheusNames(string instrument, string? unit, bool counter, string expected) =>
        Assert.Equal(expected, PrometheusNaming.MetricName(instrument, unit, counter));

    [Fact]
    public void ValuesFormatAsGoParsesThem()
    {
        Assert.Equal("+Inf", PrometheusNaming.FormatValue(double.PositiveInfinity));
        Assert.Equal("-Inf", PrometheusNaming.FormatValue(double.NegativeInfinity));
        Assert.Equal("NaN", PrometheusNaming.FormatValue(double.NaN));
        Assert.Equal("5", PrometheusNaming.FormatValue(5));
        Assert.Equal("0.1", PrometheusNaming.FormatValue(0.1));
        Assert.Equal("1E+20", PrometheusNaming.FormatValue(1e20));
    }

    [Fact]
    public void RandomLabelValuesRoundTripThroughEscaping()
    {
        var random = new Random(1234);
        using var meter = new Meter(_prefix + "Random");
        using var exporter = NewExporter();
        var counter = meter.CreateCounter<int>("test_random");
        var values = new HashSet<string>(StringComparer.Ordinal);
        const string alphabet = "ab\\\"\n{}=, #\té";
        for (int i = 0; i < 200; i++)
        {
            var value = new string([.. Enumerable.Range(0, random.Next(0, 12)).Select(_ => alphabet[random.Next(alphabet.Length)])]);
            values.Add(value);
            counter.Add(1, new KeyValuePair<string, object?>("v", value));
        }
        var family = PrometheusTextParser.Parse(exporter.Render())["test_random_total"];
        Assert.Equal(values.Order(StringComparer.Ordinal), family.Samples.Select(s => s.Label("v")).Order(StringComparer.Ordinal));
    }
}
