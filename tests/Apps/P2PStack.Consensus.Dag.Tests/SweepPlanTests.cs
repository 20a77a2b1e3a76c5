using P2PStack.Simulation.Dag;

namespace P2PStack.Consensus.Dag.Tests;

/// <summary>The runs <c>dag sweep</c> does: a seed range of every configuration, seed by seed, without those done.</summary>
public class SweepPlanTests
{
    private static readonly string[] Configs = ["honest", "RandomVoter 10 %"];

    [Fact]
    public void A_sweep_from_seed_one_runs_every_seed_of_every_configuration_seed_by_seed()
    {
        var work = DagSweepPlan.Remaining(Configs, 1, 3, new HashSet<(string, int)>());
        Assert.Equal([("honest", 1), ("RandomVoter 10 %", 1), ("honest", 2), ("RandomVoter 10 %", 2), ("honest", 3), ("RandomVoter 10 %", 3)], work);
    }

    [Fact]
    public void A_later_first_seed_continues_without_the_earlier_seeds()
    {
        var work = DagSweepPlan.Remaining(Configs, 214, 1000, new HashSet<(string, int)>());
        Assert.Equal(2 * 787, work.Count);
        Assert.Equal(("honest", 214), work[0]);
        Assert.Equal(("RandomVoter 10 %", 1000), work[^1]);
        Assert.DoesNotContain(work, w => w.Seed < 214);
    }

    [Fact]
    public void A_resumed_sweep_skips_the_runs_already_done()
    {
        var done = new HashSet<(string, int)> { ("honest", 214), ("RandomVoter 10 %", 214), ("honest", 215), ("honest", 3) };
        var work = DagSweepPlan.Remaining(Configs, 214, 216, done);
        Assert.Equal([("RandomVoter 10 %", 215), ("honest", 216), ("RandomVoter 10 %", 216)], work);
    }

    [Theory]
    [InlineData(0, 10)]
    [InlineData(11, 10)]
    public void A_first_seed_below_one_or_past_the_last_is_refused(int first, int last) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => DagSweepPlan.Remaining(Configs, first, last, new HashSet<(string, int)>()));
}
