using P2PStack.Simulation.Dag;

namespace P2PStack.Consensus.Dag.Tests;

/// <summary>
/// A short subset of the seeded safety and liveness runs (the full sweep is benchmarks/run-dag.sh): 50 voters,
/// conflicting proposals injected at several honest nodes at once, byzantine voters of each kind.
/// </summary>
public class ModelTests
{
    public static TheoryData<string, double, int> Configurations => new()
    {
        { "", 0, 1 },
        { "", 0, 2 },
        { nameof(ByzantineKind.RandomVoter), 0.2, 1 },
        { nameof(ByzantineKind.BothSides), 0.1, 1 },
        { nameof(ByzantineKind.BothSides), 0.2, 2 },
        { nameof(ByzantineKind.Withholder), 0.2, 1 },
        { nameof(ByzantineKind.Equivocator), 0.2, 1 },
        { "RandomVoter,BothSides,Withholder,Equivocator", 0.2, 3 },
    };

    [Theory]
    [MemberData(nameof(Configurations))]
    public void Honest_nodes_never_accept_conflicting_vertices_and_accept_every_virtuous_proposal(string kinds, double fraction, int seed)
    {
        var result = DagModel.Run(new DagModelOptions
        {
            Nodes = 50,
            Seed = seed,
            ByzantineFraction = fraction,
            ByzantineKinds = kinds.Length == 0 ? [] : [.. kinds.Split(',').Select(Enum.Parse<ByzantineKind>)],
        });
        Assert.True(result.Safe, result.ToString());
        Assert.True(result.Live, result.ToString());
        // Without byzantine nodes every conflict is resolved too (4 keys with 2 proposals each, and 8 virtuous: 16).
        if (fraction == 0) Assert.True(result.AllConflictsResolved && result.Decisions == 16, result.ToString());
        Assert.Equal(result.EquivocationsExpected, result.EquivocationsReported);
        if (kinds.Contains(nameof(ByzantineKind.Equivocator))) Assert.True(result.EquivocationsReported > 0, result.ToString());
    }

    [Fact]
    public void The_same_seed_gives_the_same_run()
    {
        var options = new DagModelOptions { Nodes = 30, Seed = 7, ByzantineFraction = 0.2, ByzantineKinds = [ByzantineKind.BothSides] };
        var a = DagModel.Run(options);
        var b = DagModel.Run(options);
        Assert.Equal(a.Messages, b.Messages);
        Assert.Equal(a.VirtuousLatenciesMs, b.VirtuousLatenciesMs);
        Assert.Equal(a.ConflictLatenciesMs, b.ConflictLatenciesMs);
    }

    [Fact]
    public void Every_message_can_travel_as_a_signed_neural_envelope()
    {
        // Signing changes the bytes, not the protocol: the same seed gives the same run, every message now carrying a
        // signature and a public key, each envelope verified on delivery.
        var plain = new DagModelOptions { Nodes = 20, Seed = 1, ConflictSets = 2, VirtuousProposals = 2, ByzantineFraction = 0.2, ByzantineKinds = [ByzantineKind.BothSides] };
        var signed = new DagModelOptions { Nodes = 20, Seed = 1, ConflictSets = 2, VirtuousProposals = 2, ByzantineFraction = 0.2, ByzantineKinds = [ByzantineKind.BothSides], SignEnvelopes = true };
        var a = DagModel.Run(plain);
        var b = DagModel.Run(signed);
        Assert.True(b.Safe && b.Live, b.ToString());
        Assert.Equal(a.Messages, b.Messages);
        Assert.Equal(a.VirtuousLatenciesMs, b.VirtuousLatenciesMs);
        Assert.Equal(a.ConflictLatenciesMs, b.ConflictLatenciesMs);
        Assert.Equal(0, a.EnvelopesVerified);
        Assert.True(b.EnvelopesVerified >= b.Messages, b.ToString());
        Assert.True(b.Bytes >= a.Bytes + (64 + 32) * b.Messages, $"{a.Bytes} bytes plain, {b.Bytes} signed, {b.Messages} messages");
    }

    [Theory]
    [InlineData(nameof(ByzantineKind.Equivocator), 0.2, 1)]
    [InlineData("RandomVoter,BothSides,Withholder,Equivocator", 0.2, 3)]
    public void Sharing_vertex_checks_among_engines_gives_the_same_run(string kinds, double fraction, int seed)
    {
        DagModelResult Run(bool share) => DagModel.Run(new DagModelOptions
        {
            Nodes = 30,
            Seed = seed,
            ByzantineFraction = fraction,
            ByzantineKinds = [.. kinds.Split(',').Select(Enum.Parse<ByzantineKind>)],
            TimeLimit = TimeSpan.FromSeconds(5),
            ShareVertexChecks = share,
        });
        var own = Run(share: false);
        var shared = Run(share: true);
        Assert.Equal(own.Messages, shared.Messages);
        Assert.Equal(own.Bytes, shared.Bytes);
        Assert.Equal(own.VirtuousLatenciesMs, shared.VirtuousLatenciesMs);
        Assert.Equal(own.ConflictLatenciesMs, shared.ConflictLatenciesMs);
        Assert.Equal(own.EquivocationsReported, shared.EquivocationsReported);
        Assert.Equal(own.RefusedByReason, shared.RefusedByReason);
        // Every check the engines made on their own was made once for real or answered from one.
        Assert.Equal(0, own.VertexChecksShared);
        Assert.Equal(own.VertexChecks, shared.VertexChecks + shared.VertexChecksShared);
        Assert.True(shared.VertexChecksShared > shared.VertexChecks, shared.ToString());
    }

    [Theory]
    [InlineData(nameof(ByzantineKind.Equivocator), 0.2, 1)]
    [InlineData(nameof(ByzantineKind.BothSides), 0.2, 2)]
    [InlineData("RandomVoter,BothSides,Withholder,Equivocator", 0.2, 3)]
    public void Handing_receivers_the_senders_message_gives_the_same_run_as_encoding_and_parsing_it(string kinds, double fraction, int seed)
    {
        DagModelResult Run(bool share) => DagModel.Run(new DagModelOptions
        {
            Nodes = 30,
            Seed = seed,
            ByzantineFraction = fraction,
            ByzantineKinds = [.. kinds.Split(',').Select(Enum.Parse<ByzantineKind>)],
            TimeLimit = TimeSpan.FromSeconds(5),
            ShareMessages = share,
        });
        var encoded = Run(share: false);
        var shared = Run(share: true);
        Assert.Equal(encoded.Messages, shared.Messages);
        Assert.Equal(encoded.Bytes, shared.Bytes);
        Assert.Equal(encoded.Polls, shared.Polls);
        Assert.Equal(encoded.VirtuousLatenciesMs, shared.VirtuousLatenciesMs);
        Assert.Equal(encoded.ConflictLatenciesMs, shared.ConflictLatenciesMs);
        Assert.Equal(encoded.EquivocationsReported, shared.EquivocationsReported);
        Assert.Equal(encoded.RefusedByReason, shared.RefusedByReason);
        Assert.Equal(encoded.VertexChecks, shared.VertexChecks);
        Assert.Equal(encoded.VertexChecksShared, shared.VertexChecksShared);
        Assert.Equal(encoded.VirtualDuration, shared.VirtualDuration);
        Assert.True(shared.Messages > 0 && shared.Bytes > shared.Messages, shared.ToString());
    }
}
