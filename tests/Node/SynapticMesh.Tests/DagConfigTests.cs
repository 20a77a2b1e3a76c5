using P2PStack.Consensus.Dag;
using SynapticMesh.Cli;
using SynapticMesh.Home;

namespace SynapticMesh.Tests;

/// <summary>The config's "dag" section as the node applies and checks it.</summary>
public sealed class DagConfigTests
{
    [Fact]
    public void The_poll_timeout_is_applied_and_bad_values_are_refused()
    {
        var home = new NodeHome(Path.GetTempPath());
        var options = new DagConsensusOptions();
        new DagConfig { PollTimeoutSeconds = 10 }.Apply(options, home);
        Assert.Equal(TimeSpan.FromSeconds(10), options.PollTimeout);

        var defaults = new DagConsensusOptions();
        new DagConfig().Apply(defaults, home);
        Assert.Equal(TimeSpan.FromSeconds(2), defaults.PollTimeout);

        foreach (int bad in new[] { 0, 301 })
        {
            var error = Assert.Throws<CliException>(() => new DagConfig { PollTimeoutSeconds = bad }.Validate());
            Assert.Equal(ExitCodes.Usage, error.ExitCode);
            Assert.Contains("pollTimeoutSeconds must be 1..300", error.Message);
        }
        new DagConfig { PollTimeoutSeconds = 300 }.Validate();
    }
}
