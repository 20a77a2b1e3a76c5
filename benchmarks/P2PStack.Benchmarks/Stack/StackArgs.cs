using System.Globalization;

namespace P2PStack.Benchmarks.Stack;

/// <summary><c>--name value</c> options of the stack commands; every option has a default.</summary>
internal sealed class StackArgs
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    public StackArgs(IReadOnlyList<string> args)
    {
        for (int i = 0; i < args.Count; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Count)
                throw new ArgumentException($"expected --name value pairs, got '{args[i]}'");
            _values[args[i][2..]] = args[++i];
        }
    }

    public string String(string name, string fallback) => _values.GetValueOrDefault(name, fallback);

    public string Required(string name) =>
        _values.TryGetValue(name, out var value) ? value : throw new ArgumentException($"--{name} is required");

    public int Int(string name, int fallback) =>
        _values.TryGetValue(name, out var value) ? int.Parse(value, CultureInfo.InvariantCulture) : fallback;

    /// <summary>A byte count; accepts the suffixes K, M and G (binary units), e.g. <c>256M</c>.</summary>
    public long Bytes(string name, long fallback) => _values.TryGetValue(name, out var value) ? ParseBytes(value) : fallback;

    public static long ParseBytes(string value)
    {
        long unit = char.ToUpperInvariant(value[^1]) switch { 'K' => 1L << 10, 'M' => 1L << 20, 'G' => 1L << 30, _ => 1 };
        string digits = unit == 1 ? value : value[..^1];
        return long.Parse(digits, CultureInfo.InvariantCulture) * unit;
    }
}
