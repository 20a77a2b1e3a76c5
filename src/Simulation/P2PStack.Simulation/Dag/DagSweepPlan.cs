namespace P2PStack.Simulation.Dag;

/// <summary>
/// The runs a seeded sweep (<c>dag sweep</c>) still has to do: seeds <c>firstSeed</c> to <c>lastSeed</c> of every
/// configuration, seed by seed across the configurations (so a sweep stopped early still covers them all evenly),
/// without the (configuration, seed) pairs already done. A first seed above 1 continues a sweep whose earlier seeds
/// were run elsewhere, without running them again.
/// </summary>
public static class DagSweepPlan
{
    public static List<(string Config, int Seed)> Remaining(IReadOnlyList<string> configs, int firstSeed, int lastSeed,
        IReadOnlySet<(string Config, int Seed)> done)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(firstSeed, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(lastSeed, firstSeed);
        return [.. Enumerable.Range(firstSeed, lastSeed - firstSeed + 1)
            .SelectMany(seed => configs.Select(config => (Config: config, Seed: seed)))
            .Where(w => !done.Contains(w))];
    }
}
