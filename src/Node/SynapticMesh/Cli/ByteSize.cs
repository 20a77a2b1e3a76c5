using System.CommandLine.Parsing;
using System.Globalization;

namespace SynapticMesh.Cli;

/// <summary>Byte counts on the command line: <c>1048576</c>, <c>64KiB</c>, <c>10MB</c>, <c>1.5GiB</c> (K/M/G/T
/// decimal, KiB/MiB/GiB/TiB binary, a trailing B optional; case-insensitive).</summary>
public static class ByteSize
{
    private static readonly (string Suffix, ulong Factor)[] Units =
    [
        ("kib", 1UL << 10), ("mib", 1UL << 20), ("gib", 1UL << 30), ("tib", 1UL << 40),
        ("kb", 1_000), ("mb", 1_000_000), ("gb", 1_000_000_000), ("tb", 1_000_000_000_000),
        ("k", 1_000), ("m", 1_000_000), ("g", 1_000_000_000), ("t", 1_000_000_000_000),
        ("b", 1),
    ];

    /// <summary>Parses <paramref name="text"/>; false for anything else, a negative size or one past ulong.</summary>
    public static bool TryParse(string text, out ulong bytes)
    {
        bytes = 0;
        string value = text.Trim().ToLowerInvariant();
        ulong factor = 1;
        foreach (var (suffix, unit) in Units)
        {
            if (value.EndsWith(suffix, StringComparison.Ordinal))
            {
                value = value[..^suffix.Length].TrimEnd();
                factor = unit;
                break;
            }
        }
        if (factor == 1) return ulong.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out bytes);
        if (!decimal.TryParse(value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out decimal number)) return false;
        decimal total = decimal.Floor(number * factor);
        if (total > ulong.MaxValue) return false;
        bytes = (ulong)total;
        return true;
    }

    /// <summary>For <c>Option&lt;ulong&gt;.CustomParser</c>: the error names the option and the accepted forms.</summary>
    public static ulong Parse(ArgumentResult result)
    {
        string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
        if (TryParse(text, out ulong bytes)) return bytes;
        string name = result.Parent is OptionResult option ? option.Option.Name : "size";
        result.AddError($"{name}: '{text}' is not a size (bytes, or with a unit: 64KiB, 10MB, 1.5GiB)");
        return 0;
    }
}
