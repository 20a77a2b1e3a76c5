using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace P2PStack.Nat.Testing;

/// <summary>Collects the measurements of counters of one meter (by instrument name and tag values) for assertions.</summary>
public sealed class MetricCapture : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _sums = new();

    public MetricCapture(string meterName)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == meterName) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            _sums.AddOrUpdate(Key(instrument.Name, tags), value, (_, sum) => sum + value);
            _sums.AddOrUpdate(instrument.Name, value, (_, sum) => sum + value);
        });
        _listener.Start();
    }

    /// <summary>The sum of a counter, over all tags or those whose values include every one given ("name=value").</summary>
    public long Sum(string instrument, params string[] tags) =>
        tags.Length == 0 ? _sums.GetValueOrDefault(instrument)
        : _sums.Where(kv => kv.Key.StartsWith(instrument + "{", StringComparison.Ordinal) && tags.All(t => kv.Key.Contains(t, StringComparison.Ordinal)))
            .Sum(kv => kv.Value);

    private static string Key(string name, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var parts = new List<string>();
        foreach (var tag in tags) parts.Add($"{tag.Key}={tag.Value}");
        parts.Sort(StringComparer.Ordinal);
        return $"{name}{{{string.Join(',', parts)}}}";
    }

    public void Dispose() => _listener.Dispose();
}
