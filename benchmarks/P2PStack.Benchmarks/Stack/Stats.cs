using System.Globalization;

namespace P2PStack.Benchmarks.Stack;

/// <summary>Order statistics of a sample and their markdown rendering.</summary>
internal static class Stats
{
    public static double Median(IReadOnlyList<double> values) => Quantile(values, 0.5);

    /// <summary>Linear interpolation between the closest ranks.</summary>
    public static double Quantile(IReadOnlyList<double> values, double q)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToArray();
        double rank = q * (sorted.Length - 1);
        int low = (int)Math.Floor(rank);
        int high = Math.Min(low + 1, sorted.Length - 1);
        return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
    }

    public static string F(double value, int decimals = 1) =>
        double.IsNaN(value) ? "—" : value.ToString("F" + decimals, CultureInfo.InvariantCulture);

    /// <summary>"median (min–max)".</summary>
    public static string MedianRange(IReadOnlyList<double> values, int decimals = 1) => values.Count == 0
        ? "—"
        : $"{F(Median(values), decimals)} ({F(values.Min(), decimals)}–{F(values.Max(), decimals)})";

    /// <summary>"median (p10–p90)", for larger samples where the extremes are single outliers.</summary>
    public static string MedianP10P90(IReadOnlyList<double> values, int decimals = 2) => values.Count == 0
        ? "—"
        : $"{F(Median(values), decimals)} ({F(Quantile(values, 0.1), decimals)}–{F(Quantile(values, 0.9), decimals)})";

    public static double MiBps(long bytes, TimeSpan time) => bytes / (1024.0 * 1024.0) / time.TotalSeconds;
}
