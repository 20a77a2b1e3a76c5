using System.Text;

namespace P2PStack.Metrics;

/// <summary>How measurements of a family combine.</summary>
internal enum Aggregation
{
    /// <summary>Deltas are added (counters, up-down counters).</summary>
    Sum,

    /// <summary>Each measurement replaces the value (gauges; observable counters report their running total).</summary>
    LastValue,

    /// <summary>Measurements fall into cumulative buckets with a sum and a count.</summary>
    Histogram,
}

/// <summary>
/// One Prometheus metric (a name with its TYPE and HELP) and its label sets. Thread-safe: measurements arrive from
/// any thread. Series are found by an order-independent hash of the tags, with no allocation once a series exists.
/// </summary>
internal sealed class MetricFamily(string name, string type, string help, Aggregation aggregation, bool observable,
    double[] bounds, int maxSeries)
{
    private readonly Dictionary<int, List<(KeyValuePair<string, object?>[] Tags, Series Series)>> _series = [];
    private readonly Dictionary<string, Series> _byLabels = new(StringComparer.Ordinal);

    public string Name { get; } = name;

    /// <summary>counter, gauge or histogram.</summary>
    public string Type { get; } = type;

    public string Help { get; } = help;

    public Aggregation Aggregation { get; } = aggregation;

    /// <summary>Observed at scrape time: its series are rebuilt by every collection.</summary>
    public bool Observable { get; } = observable;

    /// <summary>Histogram upper bounds, ascending, without +Inf.</summary>
    public double[] Bounds { get; } = bounds;

    /// <summary>Adds a measurement; false when its label set is new and the family is at its cap (dropped).</summary>
    public bool Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        lock (_series)
        {
            var series = Find(tags) ?? Add(tags);
            if (series is null) return false;
            switch (Aggregation)
            {
                case Aggregation.Sum:
                    series.Value += value;
                    break;
                case Aggregation.LastValue:
                    series.Value = value;
                    break;
                case Aggregation.Histogram:
                    if (double.IsNaN(value)) break; // no bucket holds it; it would poison the sum
                    int bucket = Array.BinarySearch(Bounds, value);
                    if (bucket < 0) bucket = ~bucket; // first bound >= value; le is inclusive
                    series.Buckets![bucket]++;
                    series.Value += value;
                    series.Count++;
                    break;
            }
            return true;
        }
    }

    /// <summary>Forgets every series (observable families, before a collection).</summary>
    public void Clear()
    {
        lock (_series)
        {
            _series.Clear();
            _byLabels.Clear();
        }
    }

    /// <summary>Appends HELP, TYPE and every sample; nothing when the family has no series.</summary>
    public void Render(StringBuilder output)
    {
        List<Series> all;
        lock (_series)
        {
            if (_byLabels.Count == 0) return;
            all = [.. _byLabels.Values.Select(s => s.Snapshot())];
        }
        all.Sort((a, b) => string.CompareOrdinal(a.LabelText, b.LabelText));
        output.Append("# HELP ").Append(Name).Append(' ');
        PrometheusNaming.AppendHelp(output, Help);
        output.Append('\n').Append("# TYPE ").Append(Name).Append(' ').Append(Type).Append('\n');
        foreach (var series in all)
        {
            if (Aggregation != Aggregation.Histogram)
            {
                Sample(output, Name, series.LabelText, null, series.Value);
                continue;
            }
            long cumulative = 0;
            for (int i = 0; i < Bounds.Length; i++)
            {
                cumulative += series.Buckets![i];
                Sample(output, Name + "_bucket", series.LabelText, PrometheusNaming.FormatValue(Bounds[i]), cumulative);
            }
            Sample(output, Name + "_bucket", series.LabelText, "+Inf", series.Count);
            Sample(output, Name + "_sum", series.LabelText, null, series.Value);
            Sample(output, Name + "_count", series.LabelText, null, series.Count);
        }
    }

    private static void Sample(StringBuilder output, string name, string labels, string? le, double value)
    {
        output.Append(name);
        if (labels.Length > 0 || le is not null)
        {
            output.Append('{').Append(labels);
            if (le is not null) output.Append(labels.Length > 0 ? ",le=\"" : "le=\"").Append(le).Append('"');
            output.Append('}');
        }
        output.Append(' ').Append(PrometheusNaming.FormatValue(value)).Append('\n');
    }

    private Series? Find(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (!_series.TryGetValue(Hash(tags), out var list)) return null;
        foreach (var (known, series) in list)
            if (Matches(known, tags)) return series;
        return null;
    }

    private Series? Add(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        // Tags that differ only in ways the text format erases (e.g. "a.b" and "a_b", 1 and "1") share one series,
        // so that no label set is printed twice.
        string labels = LabelText(tags);
        if (!_byLabels.TryGetValue(labels, out var series))
        {
            if (_byLabels.Count >= maxSeries) return null;
            series = new Series(labels, Aggregation == Aggregation.Histogram ? new long[Bounds.Length + 1] : null);
            _byLabels[labels] = series;
        }
        int hash = Hash(tags);
        if (!_series.TryGetValue(hash, out var list)) _series[hash] = list = [];
        list.Add((tags.ToArray(), series));
        return series;
    }

    // Order-independent, so the same tags in another order find the same series.
    private static int Hash(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        int hash = tags.Length;
        foreach (var tag in tags) hash += HashCode.Combine(tag.Key, tag.Value);
        return hash;
    }

    private string LabelText(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var pairs = new List<(string Name, string Value)>(tags.Length);
        foreach (var tag in tags)
        {
            string label = PrometheusNaming.LabelName(tag.Key);
            // "le" belongs to histogram buckets, and names starting "__" are reserved for Prometheus itself.
            if ((label == "le" && Aggregation == Aggregation.Histogram) || label.StartsWith("__", StringComparison.Ordinal))
                label = "tag_" + label.TrimStart('_');
            pairs.Add((label, PrometheusNaming.LabelText(tag.Value)));
        }
        pairs.Sort((a, b) => string.CompareOrdinal(a.Name, b.Name));
        var builder = new StringBuilder();
        foreach (var (label, value) in pairs)
        {
            if (builder.Length > 0) builder.Append(',');
            builder.Append(label).Append("=\"");
            PrometheusNaming.AppendLabelValue(builder, value);
            builder.Append('"');
        }
        return builder.ToString();
    }

    private static bool Matches(KeyValuePair<string, object?>[] known, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (known.Length != tags.Length) return false;
        foreach (var tag in tags)
        {
            bool found = false;
            foreach (var mine in known)
            {
                if (string.Equals(mine.Key, tag.Key, StringComparison.Ordinal) && Equals(mine.Value, tag.Value))
                {
                    found = true;
                    break;
                }
            }
            if (!found) return false;
        }
        return true;
    }

    private sealed class Series(string labelText, long[]? buckets)
    {
        public string LabelText { get; } = labelText;

        public double Value;
        public long Count;
        public long[]? Buckets = buckets;

        public Series Snapshot() => new(LabelText, Buckets is null ? null : [.. Buckets]) { Value = Value, Count = Count };
    }
}
