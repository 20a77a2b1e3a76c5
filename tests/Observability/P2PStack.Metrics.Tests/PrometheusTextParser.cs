using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace P2PStack.Metrics.Tests;

/// <summary>One sample line: metric name, labels (unescaped) and value.</summary>
public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    public string Label(string name) => Labels.TryGetValue(name, out var value) ? value : "";
}

/// <summary>A metric family: TYPE, HELP and its samples (histograms: _bucket, _sum, _count).</summary>
public sealed record Family(string Name, string Type, string Help, List<Sample> Samples);

/// <summary>
/// A strict reader of the Prometheus text exposition format 0.0.4, written from the spec (not from the exporter):
/// it fails on anything the format does not allow, so that the tests check conformance, not just content.
/// </summary>
public static partial class PrometheusTextParser
{
    [GeneratedRegex("^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    private static partial Regex MetricName();

    [GeneratedRegex("^[a-zA-Z_][a-zA-Z0-9_]*$")]
    private static partial Regex LabelName();

    public static Dictionary<string, Family> Parse(string text)
    {
        Assert.EndsWith("\n", text);
        var families = new Dictionary<string, Family>(StringComparer.Ordinal);
        var seenSeries = new HashSet<string>(StringComparer.Ordinal);
        var finished = new HashSet<string>(StringComparer.Ordinal);
        Family? current = null;
        foreach (var line in text[..^1].Split('\n'))
        {
            Assert.DoesNotContain('\r', line);
            if (line.Length == 0) continue;
            if (line.StartsWith("# HELP ", StringComparison.Ordinal))
            {
                var (name, help) = SplitOnce(line["# HELP ".Length..]);
                Assert.Matches(MetricName(), name);
                current = Open(families, finished, ref current, name);
                Assert.Equal("", current.Help); // at most one HELP per family
                families[name] = current = current with { Help = UnescapeHelp(help) };
            }
            else if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var (name, type) = SplitOnce(line["# TYPE ".Length..]);
                Assert.Matches(MetricName(), name);
                Assert.Contains(type, (string[])["counter", "gauge", "histogram", "summary", "untyped"]);
                current = Open(families, finished, ref current, name);
                Assert.Equal("untyped", current.Type); // one TYPE, before the samples
                Assert.Empty(current.Samples);
                families[name] = current = current with { Type = type };
            }
            else if (line.StartsWith('#'))
            {
                continue; // other comments are allowed
            }
            else
            {
                var sample = ParseSample(line);
                Assert.True(seenSeries.Add(sample.Name + "{" + string.Join(",", sample.Labels.OrderBy(l => l.Key).Select(l => $"{l.Key}={l.Value}")) + "}"),
                    $"duplicate series: {line}");
                Assert.NotNull(current);
                Assert.True(BelongsTo(sample.Name, current!), $"sample {sample.Name} outside its family block (current {current!.Name})");
                current.Samples.Add(sample);
            }
        }
        foreach (var family in families.Values) CheckFamily(family);
        return families;
    }

    private static Family Open(Dictionary<string, Family> families, HashSet<string> finished, ref Family? current, string name)
    {
        if (current is not null && current.Name != name) finished.Add(current.Name);
        Assert.DoesNotContain(name, finished); // a family's lines are contiguous
        if (!families.TryGetValue(name, out var family)) families[name] = family = new Family(name, "untyped", "", []);
        return family;
    }

    private static bool BelongsTo(string sampleName, Family family) => family.Type switch
    {
        "histogram" => sampleName == family.Name + "_bucket" || sampleName == family.Name + "_sum" || sampleName == family.Name + "_count",
        _ => sampleName == family.Name,
    };

    private static void CheckFamily(Family family)
    {
        Assert.NotEmpty(family.Samples);
        if (family.Type == "counter")
        {
            Assert.EndsWith("_total", family.Name);
            Assert.All(family.Samples, s => Assert.True(s.Value >= 0 || double.IsNaN(s.Value), $"{s.Name} negative"));
        }
        if (family.Type != "histogram") return;
        foreach (var series in family.Samples.GroupBy(s => string.Join(",", s.Labels.Where(l => l.Key != "le").OrderBy(l => l.Key))))
        {
            var buckets = series.Where(s => s.Name.EndsWith("_bucket", StringComparison.Ordinal)).ToList();
            Assert.NotEmpty(buckets);
            Assert.Equal("+Inf", buckets[^1].Label("le"));
            double previousBound = double.NegativeInfinity, previousCount = 0;
            foreach (var bucket in buckets)
            {
                double bound = ParseValue(bucket.Label("le"));
                Assert.True(bound > previousBound, $"le not ascending in {family.Name}");
                Assert.True(bucket.Value >= previousCount, $"buckets not cumulative in {family.Name}");
                previousBound = bound;
                previousCount = bucket.Value;
            }
            var count = Assert.Single(series, s => s.Name == family.Name + "_count");
            Assert.Single(series, s => s.Name == family.Name + "_sum");
            Assert.Equal(count.Value, buckets[^1].Value);
        }
    }

    private static Sample ParseSample(string line)
    {
        int i = 0;
        while (i < line.Length && line[i] != '{' && line[i] != ' ') i++;
        string name = line[..i];
        Assert.Matches(MetricName(), name);
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (i < line.Length && line[i] == '{')
        {
            i++;
            while (line[i] != '}')
            {
                int start = i;
                while (line[i] != '=') i++;
                string label = line[start..i];
                Assert.Matches(LabelName(), label);
                Assert.Equal('"', line[++i]);
                i++;
                var value = new StringBuilder();
                while (line[i] != '"')
                {
                    if (line[i] == '\\')
                    {
                        value.Append(line[++i] switch
                        {
                            '\\' => '\\',
                            '"' => '"',
                            'n' => '\n',
                            var other => throw new Xunit.Sdk.XunitException($"invalid escape \\{other} in {line}"),
                        });
                    }
                    else
                    {
                        value.Append(line[i]);
                    }
                    i++;
                }
                i++;
                Assert.True(labels.TryAdd(label, value.ToString()), $"label {label} twice in {line}");
                if (line[i] == ',') i++;
                else Assert.Equal('}', line[i]);
            }
            i++;
        }
        Assert.Equal(' ', line[i]);
        string[] rest = line[(i + 1)..].Split(' ');
        Assert.InRange(rest.Length, 1, 2); // value and an optional timestamp
        return new Sample(name, labels, ParseValue(rest[0]));
    }

    public static double ParseValue(string text) => text switch
    {
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ => double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture),
    };

    private static (string, string) SplitOnce(string text)
    {
        int space = text.IndexOf(' ');
        Assert.True(space > 0, $"malformed comment line: {text}");
        return (text[..space], text[(space + 1)..]);
    }

    private static string UnescapeHelp(string help)
    {
        var builder = new StringBuilder();
        for (int i = 0; i < help.Length; i++)
        {
            if (help[i] != '\\')
            {
                builder.Append(help[i]);
                continue;
            }
            builder.Append(help[++i] switch
            {
                '\\' => '\\',
                'n' => '\n',
                var other => throw new Xunit.Sdk.XunitException($"invalid HELP escape \\{other}"),
            });
        }
        return builder.ToString();
    }
}
