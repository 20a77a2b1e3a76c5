using System.Globalization;

namespace P2PStack.Daemon;

/// <summary>Durations in Go's <c>time.ParseDuration</c> form ("300ms", "1.5s", "2m30s", "1h"), as p2pd's flags take them.</summary>
public static class GoDuration
{
    /// <exception cref="FormatException">Not a Go duration.</exception>
    public static TimeSpan Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var span = text.AsSpan().Trim();
        if (span is "0") return TimeSpan.Zero;
        bool negative = false;
        if (span.Length > 0 && (span[0] == '-' || span[0] == '+'))
        {
            negative = span[0] == '-';
            span = span[1..];
        }
        if (span.IsEmpty) throw new FormatException($"'{text}' is not a duration (e.g. 500ms, 1s, 2m30s)");
        double ticks = 0;
        while (!span.IsEmpty)
        {
            int number = 0;
            while (number < span.Length && (char.IsAsciiDigit(span[number]) || span[number] == '.')) number++;
            int unit = number;
            while (unit < span.Length && !char.IsAsciiDigit(span[unit]) && span[unit] != '.') unit++;
            if (number == 0 || unit == number
                || !double.TryParse(span[..number], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out double value))
                throw new FormatException($"'{text}' is not a duration (e.g. 500ms, 1s, 2m30s)");
            ticks += value * span[number..unit] switch
            {
                "ns" => TimeSpan.TicksPerMicrosecond / 1000.0,
                "us" or "µs" or "μs" => TimeSpan.TicksPerMicrosecond,
                "ms" => TimeSpan.TicksPerMillisecond,
                "s" => TimeSpan.TicksPerSecond,
                "m" => TimeSpan.TicksPerMinute,
                "h" => TimeSpan.TicksPerHour,
                _ => throw new FormatException($"'{text}' has an unknown unit '{span[number..unit]}' (ns, us, ms, s, m, h)"),
            };
            span = span[unit..];
        }
        if (ticks > TimeSpan.MaxValue.Ticks) throw new FormatException($"'{text}' is too long a duration");
        var result = TimeSpan.FromTicks((long)ticks);
        return negative ? -result : result;
    }
}
