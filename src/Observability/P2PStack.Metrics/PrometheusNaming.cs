using System.Globalization;
using System.Text;

namespace P2PStack.Metrics;

/// <summary>Prometheus text format 0.0.4 naming and escaping rules.</summary>
internal static class PrometheusNaming
{
    /// <summary>
    /// The metric name of an instrument: invalid characters become '_', the unit is appended when the name does not
    /// already carry it, and counters end in <c>_total</c>.
    /// </summary>
    public static string MetricName(string instrumentName, string? unit, bool isCounter)
    {
        string name = Sanitize(instrumentName, allowColon: true);
        if (isCounter && name.EndsWith("_total", StringComparison.Ordinal)) name = name[..^"_total".Length];
        if (UnitSuffix(unit) is { } suffix && !HasToken(name, suffix)) name = $"{name}_{suffix}";
        return isCounter ? name + "_total" : name;
    }

    /// <summary>A label name: [a-zA-Z_][a-zA-Z0-9_]*.</summary>
    public static string LabelName(string key) => Sanitize(key, allowColon: false);

    /// <summary>The Prometheus word for an UCUM unit, or null for units that are not spelled in names.</summary>
    public static string? UnitSuffix(string? unit) => unit switch
    {
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "By" or "bytes" or "byte" => "bytes",
        "bit" or "bits" => "bits",
        _ => null, // "1", "{peer}" annotations and unknown units add nothing
    };

    /// <summary>Escapes a label value: backslash, double quote and line feed.</summary>
    public static void AppendLabelValue(StringBuilder builder, string value)
    {
        foreach (char c in value)
        {
            switch (c)
            {
                case '\\': builder.Append(@"\\"); break;
                case '"': builder.Append("\\\""); break;
                case '\n': builder.Append(@"\n"); break;
                default: builder.Append(c); break;
            }
        }
    }

    /// <summary>Escapes HELP text: backslash and line feed.</summary>
    public static void AppendHelp(StringBuilder builder, string help)
    {
        foreach (char c in help)
        {
            switch (c)
            {
                case '\\': builder.Append(@"\\"); break;
                case '\n': builder.Append(@"\n"); break;
                default: builder.Append(c); break;
            }
        }
    }

    /// <summary>A sample value as Go's ParseFloat reads it: NaN, +Inf, -Inf or the shortest round-trip decimal.</summary>
    public static string FormatValue(double value) =>
        double.IsNaN(value) ? "NaN"
        : double.IsPositiveInfinity(value) ? "+Inf"
        : double.IsNegativeInfinity(value) ? "-Inf"
        : value.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>A tag value as label text (invariant culture; booleans lower case).</summary>
    public static string LabelText(object? value) => value switch
    {
        null => "",
        string s => s,
        bool b => b ? "true" : "false",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    private static bool HasToken(string name, string token)
    {
        foreach (var part in name.Split('_'))
            if (part.Equals(token, StringComparison.Ordinal)) return true;
        return false;
    }

    private static string Sanitize(string raw, bool allowColon)
    {
        if (raw.Length == 0) return "_";
        var builder = new StringBuilder(raw.Length + 1);
        if (char.IsAsciiDigit(raw[0])) builder.Append('_');
        foreach (char c in raw)
            builder.Append(char.IsAsciiLetterOrDigit(c) || c == '_' || (allowColon && c == ':') ? c : '_');
        return builder.ToString();
    }
}
