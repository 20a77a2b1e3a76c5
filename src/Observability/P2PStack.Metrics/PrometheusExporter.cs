using System.Diagnostics.Metrics;
using System.Text;

namespace P2PStack.Metrics;

/// <summary>
/// Collects every instrument of the P2PStack meters (<see cref="PrometheusExporterOptions.MeterPrefix"/>) through a
/// <see cref="MeterListener"/> and renders them in the Prometheus text exposition format 0.0.4. Counters and
/// histograms aggregate from the moment the exporter exists; observable instruments are read at each scrape.
/// Thread-safe; label sets per metric are capped (<see cref="PrometheusExporterOptions.MaxSeriesPerMetric"/>).
/// </summary>
public sealed class PrometheusExporter : IDisposable
{
    /// <summary>The Content-Type of <see cref="Render"/>'s output.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>Name of the exporter's own counter of measurements dropped by the label-set cap.</summary>
    public const string DroppedSeriesMetric = "p2pstack_metrics_series_dropped_total";

    private readonly PrometheusExporterOptions _options;
    private readonly MeterListener _listener;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, MetricFamily> _families = new(StringComparer.Ordinal);
    private readonly Lock _collect = new();
    private long _dropped;
    private long _conflicts;
    private int _disposed;

    public PrometheusExporter(PrometheusExporterOptions? options = null)
    {
        _options = options ?? new PrometheusExporterOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.MaxSeriesPerMetric, 1);
        _listener = new MeterListener
        {
            InstrumentPublished = OnInstrumentPublished,
        };
        _listener.SetMeasurementEventCallback<byte>((i, v, t, s) => Record(s, v, t));
        _listener.SetMeasurementEventCallback<short>((i, v, t, s) => Record(s, v, t));
        _listener.SetMeasurementEventCallback<int>((i, v, t, s) => Record(s, v, t));
        _listener.SetMeasurementEventCallback<long>((i, v, t, s) => Record(s, v, t));
        _listener.SetMeasurementEventCallback<float>((i, v, t, s) => Record(s, v, t));
        _listener.SetMeasurementEventCallback<double>((i, v, t, s) => Record(s, v, t));
        _listener.SetMeasurementEventCallback<decimal>((i, v, t, s) => Record(s, (double)v, t));
        _listener.Start();
    }

    /// <summary>Measurements dropped because their metric had reached its label-set cap.</summary>
    public long DroppedMeasurements => Interlocked.Read(ref _dropped);

    /// <summary>Instruments not exported because another instrument of a different kind has the same metric name.</summary>
    public long ConflictingInstruments => Interlocked.Read(ref _conflicts);

    /// <summary>Reads the observable instruments and renders every metric with at least one sample.</summary>
    public string Render()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        lock (_collect)
        {
            MetricFamily[] families;
            lock (_gate) families = [.. _families.Values];
            foreach (var family in families)
                if (family.Observable) family.Clear();
            try
            {
                _listener.RecordObservableInstruments();
            }
            catch (AggregateException)
            {
                // A failing callback loses its own samples only; the others were recorded.
            }
            Array.Sort(families, (a, b) => string.CompareOrdinal(a.Name, b.Name));
            var output = new StringBuilder(4096);
            foreach (var family in families) family.Render(output);
            output.Append("# HELP ").Append(DroppedSeriesMetric)
                .Append(" Measurements dropped because their metric reached its label-set cap.\n")
                .Append("# TYPE ").Append(DroppedSeriesMetric).Append(" counter\n")
                .Append(DroppedSeriesMetric).Append(' ').Append(PrometheusNaming.FormatValue(DroppedMeasurements)).Append('\n');
            return output.ToString();
        }
    }

    /// <summary>Writes <see cref="Render"/>'s output as UTF-8.</summary>
    public async Task WriteToAsync(Stream destination, CancellationToken cancellationToken)
    {
        byte[] bytes = System.Text.Encoding.UTF8.GetBytes(Render());
        await destination.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) _listener.Dispose();
    }

    /// <summary>The metric name and type (<c>counter</c>, <c>gauge</c>, <c>histogram</c>) under which the exporter
    /// exports <paramref name="instrument"/> (docs/metrics.md, naming rules), or null for a kind it does not export.</summary>
    public static (string Name, string Type)? MetricOf(Instrument instrument)
    {
        ArgumentNullException.ThrowIfNull(instrument);
        if (Describe(instrument) is not { } shape) return null;
        return (PrometheusNaming.MetricName(instrument.Name, instrument.Unit, shape.IsCounter), shape.Type);
    }

    private void OnInstrumentPublished(Instrument instrument, MeterListener listener)
    {
        var meter = instrument.Meter;
        if (!meter.Name.StartsWith(_options.MeterPrefix, StringComparison.Ordinal)) return;
        if (_options.Scope is not null && meter.Scope is not null && !ReferenceEquals(meter.Scope, _options.Scope)) return;
        if (Describe(instrument) is not { } shape) return;
        var (type, aggregation, observable, isCounter) = shape;
        string name = PrometheusNaming.MetricName(instrument.Name, instrument.Unit, isCounter);
        MetricFamily family;
        lock (_gate)
        {
            if (_families.TryGetValue(name, out var existing))
            {
                // Same metric from another meter instance (e.g. two hosts without a scope): they share the family.
                if (existing.Type != type || existing.Aggregation != aggregation || existing.Observable != observable)
                {
                    Interlocked.Increment(ref _conflicts);
                    return;
                }
                family = existing;
            }
            else
            {
                double[] bounds = aggregation == Aggregation.Histogram ? Buckets(instrument) : [];
                family = new MetricFamily(name, type, instrument.Description ?? instrument.Name, aggregation, observable,
                    bounds, _options.MaxSeriesPerMetric);
                _families[name] = family;
            }
        }
        listener.EnableMeasurementEvents(instrument, family);
    }

    private static (string Type, Aggregation Aggregation, bool Observable, bool IsCounter)? Describe(Instrument instrument)
    {
        var type = instrument.GetType();
        if (!type.IsGenericType) return null;
        var kind = type.GetGenericTypeDefinition();
        if (kind == typeof(Counter<>)) return ("counter", Aggregation.Sum, false, true);
        if (kind == typeof(ObservableCounter<>)) return ("counter", Aggregation.Sum, true, true);
        if (kind == typeof(UpDownCounter<>)) return ("gauge", Aggregation.Sum, false, false);
        if (kind == typeof(ObservableUpDownCounter<>)) return ("gauge", Aggregation.Sum, true, false);
        if (kind == typeof(Gauge<>)) return ("gauge", Aggregation.LastValue, false, false);
        if (kind == typeof(ObservableGauge<>)) return ("gauge", Aggregation.LastValue, true, false);
        if (kind == typeof(Histogram<>)) return ("histogram", Aggregation.Histogram, false, false);
        return null;
    }

    private double[] Buckets(Instrument instrument)
    {
        IEnumerable<double>? advice = instrument switch
        {
            Histogram<double> h => h.Advice?.HistogramBucketBoundaries,
            Histogram<float> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b),
            Histogram<long> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b),
            Histogram<int> h => h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b),
            _ => null,
        };
        advice ??= instrument.Unit == "s" ? _options.DefaultSecondsBuckets : _options.DefaultBuckets;
        return [.. advice.Where(b => !double.IsNaN(b) && !double.IsPositiveInfinity(b)).Distinct().Order()];
    }

    // Observable callbacks sum into a family cleared before each collection; an observable counter therefore
    // reports the sum of its instruments' running totals, as two meters with the same metric should.
    private void Record(object? state, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (state is MetricFamily family && !family.Record(value, tags)) Interlocked.Increment(ref _dropped);
    }
}
