using P2PStack.Consensus.Dag;
using P2PStack.Identity;
using SynapticMesh.Cli;

namespace SynapticMesh.Home;

/// <summary>The "dag" section of config.json: which DAG the node votes in, and who the voters are.</summary>
public sealed record DagConfig
{
    /// <summary>The DAG instance (vertices of other instances are refused).</summary>
    public string Name { get; init; } = "main";

    /// <summary>Voters as peer ids, each optionally with a stake weight ("PEERID=WEIGHT"). Empty: every node that
    /// announces itself on the DAG's swarm votes (open membership).</summary>
    public List<string> Validators { get; init; } = [];

    /// <summary>Overrides of the Avalanche defaults (k 20, alpha 15/15, beta 20); null keeps the default.</summary>
    public int? K { get; init; }

    public int? AlphaPreference { get; init; }

    public int? AlphaConfidence { get; init; }

    public int? Beta { get; init; }

    /// <summary>Seconds between membership announcements (open membership); null: 10.</summary>
    public int? AnnounceIntervalSeconds { get; init; }

    /// <summary>Seconds a poll waits for the votes it asked for (an answer later counts as no vote); null: 2.</summary>
    public int? PollTimeoutSeconds { get; init; }

    /// <summary>Parses the validator list.</summary>
    /// <exception cref="CliException">A validator is not a peer id (with an optional positive weight).</exception>
    public IReadOnlyList<DagValidator> ParseValidators()
    {
        var result = new List<DagValidator>();
        foreach (var entry in Validators)
        {
            var parts = entry.Split('=', 2);
            if (!PeerId.TryParse(parts[0], out var peer))
                throw new CliException($"dag validator '{entry}' is not a peer id (optionally PEERID=WEIGHT)", ExitCodes.Usage);
            ulong weight = 1;
            if (parts.Length == 2 && (!ulong.TryParse(parts[1], out weight) || weight == 0))
                throw new CliException($"dag validator '{entry}' has an invalid weight (a positive integer)", ExitCodes.Usage);
            result.Add(new DagValidator(peer, weight));
        }
        return result;
    }

    /// <summary>Applies the section to the consensus options (database in the node home).</summary>
    public void Apply(DagConsensusOptions options, NodeHome home)
    {
        options.Name = Name;
        options.DatabasePath = home.DagDatabasePath;
        options.Validators.AddRange(ParseValidators());
        if (K is { } k) options.K = k;
        if (AlphaPreference is { } alphaPreference) options.AlphaPreference = alphaPreference;
        if (AlphaConfidence is { } alphaConfidence) options.AlphaConfidence = alphaConfidence;
        if (Beta is { } beta) options.Beta = beta;
        if (AnnounceIntervalSeconds is { } seconds) options.AnnounceInterval = TimeSpan.FromSeconds(seconds);
        if (PollTimeoutSeconds is { } pollSeconds) options.PollTimeout = TimeSpan.FromSeconds(pollSeconds);
        if (options.MemberTtl < 3 * options.AnnounceInterval) options.MemberTtl = 3 * options.AnnounceInterval + TimeSpan.FromSeconds(5);
    }

    /// <summary>Checks the section the way the node would use it.</summary>
    public void Validate(NodeHome? home = null)
    {
        var options = new DagConsensusOptions();
        try
        {
            Apply(options, home ?? new NodeHome(Path.GetTempPath()));
            if (AnnounceIntervalSeconds is < 1) throw new ArgumentException("announceIntervalSeconds must be at least 1");
            if (PollTimeoutSeconds is < 1 or > 300) throw new ArgumentException("pollTimeoutSeconds must be 1..300");
            options.Validate();
        }
        catch (ArgumentException e)
        {
            throw new CliException($"the config's dag section is invalid: {e.Message}", ExitCodes.Usage, e);
        }
    }
}
