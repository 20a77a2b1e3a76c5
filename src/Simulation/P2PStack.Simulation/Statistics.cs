namespace P2PStack.Simulation;

/// <summary>Order statistics of a sample.</summary>
public static class Statistics
{
    /// <summary>The nearest-rank percentile (p in [0, 100]) of <paramref name="values"/>; NaN when empty.</summary>
    public static double Percentile(IReadOnlyCollection<double> values, double p)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToArray();
        int rank = (int)Math.Ceiling(p / 100 * sorted.Length);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Length - 1)];
    }

    public static double Mean(IReadOnlyCollection<double> values) => values.Count == 0 ? double.NaN : values.Average();
}
