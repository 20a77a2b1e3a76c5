using System.Text.Json;

namespace SynapticMesh.Tests;

/// <summary>
/// Swarm signaling and reliable delivery from the CLI on the three shared nodes: <c>swarm join --announce-interval</c>,
/// <c>swarm peers</c> (table and JSON), <c>swarm peers --watch --json</c> seeing a clean leave, and
/// <c>message --reliable</c> delivered or failed after N attempts.
/// </summary>
[Collection(ThreeNodesCollection.Name)]
public sealed class SignalingCliTests(ThreeNodes nodes)
{
    [Fact]
    public async Task MembersSeeEachOtherAndAWatcherSeesACleanLeave()
    {
        string swarm = $"presence-{Guid.NewGuid():N}"[..24];
        foreach (var node in new[] { nodes.A, nodes.B, nodes.C })
            Assert.True((await node.RunJsonAsync("p2p", "swarm", "join", swarm, "--announce-interval", "1")).TryGetProperty("swarm", out _));

        string[] others = [nodes.B.PeerId, nodes.C.PeerId];
        var peers = await Eventually.HoldsAsync(() => nodes.A.RunJsonAsync("p2p", "swarm", "peers", swarm),
            p => PeerIds(p).Order().SequenceEqual(others.Order()), "A sees B and C in the swarm");
        foreach (var peer in peers.GetProperty("peers").EnumerateArray())
            Assert.True(peer.GetProperty("until").GetDateTimeOffset() > peer.GetProperty("since").GetDateTimeOffset());
        var table = await nodes.A.RunAsync("p2p", "swarm", "peers", swarm);
        Assert.Equal(0, table.ExitCode);
        Assert.Contains(nodes.B.PeerId, table.Stdout);

        await using var watch = await CliStream.StartAsync(nodes.A, "p2p", "swarm", "peers", swarm, "--watch", "--json");
        var seen = new HashSet<string>();
        while (seen.Count < 2)
        {
            var member = await watch.ReadJsonAsync();
            Assert.Equal("member", member.GetProperty("event").GetString());
            seen.Add(member.GetProperty("peerId").GetString()!);
        }
        Assert.Equal(others.Order(), seen.Order());

        Assert.Equal(0, (await nodes.C.RunAsync("p2p", "swarm", "leave", swarm)).ExitCode);
        JsonElement left;
        do left = await watch.ReadJsonAsync();
        while (left.GetProperty("event").GetString() != "left"); // an announce-back may show as available first
        Assert.Equal(nodes.C.PeerId, left.GetProperty("peerId").GetString());
        Assert.Equal("left", left.GetProperty("reason").GetString());
        Assert.Equal([nodes.B.PeerId], PeerIds(await nodes.A.RunJsonAsync("p2p", "swarm", "peers", swarm)));

        var notJoined = await nodes.C.RunAsync("p2p", "swarm", "peers", swarm, "--json");
        notJoined.AssertOneLineError($"has not joined swarm {swarm}");
        Assert.Equal("not_found", notJoined.JsonError().GetProperty("code").GetString());
        (await nodes.A.RunAsync("p2p", "swarm", "join", swarm, "--announce-interval", "0")).AssertOneLineError("--announce-interval must be");
        await nodes.A.RunJsonAsync("p2p", "swarm", "leave", swarm);
        await nodes.B.RunJsonAsync("p2p", "swarm", "leave", swarm);
    }

    [Fact]
    public async Task ReliableMessageIsDeliveredOrFailsAfterAttempts()
    {
        var delivered = await nodes.A.RunJsonAsync("p2p", "message", nodes.B.PeerId, "--msg-type", "thought", "--content", "acked", "--reliable");
        var delivery = delivered.GetProperty("delivery");
        Assert.Equal("delivered", delivery.GetProperty("status").GetString());
        Assert.True(delivery.GetProperty("attempts").GetInt32() >= 1);
        var text = await nodes.A.RunAsync("p2p", "message", nodes.B.PeerId, "--msg-type", "thought", "--content", "acked", "--reliable");
        Assert.Equal(0, text.ExitCode);
        Assert.Contains("delivered after", text.Stdout);

        // A peer nobody can reach: every attempt fails until the give-up time, and the command says so and exits 1.
        string nobody = P2PStack.Identity.PeerId.FromPublicKey(P2PStack.Identity.PrivateKey.Generate().PublicKey).ToString();
        var failed = await nodes.A.RunAsync("p2p", "message", nobody, "--msg-type", "thought", "--content", "lost", "--reliable");
        Assert.Equal(1, failed.ExitCode);
        Assert.Matches("failed after [0-9]+ attempt", failed.Stdout + failed.Stderr);

        (await nodes.A.RunAsync("p2p", "message", "swarm:x", "--msg-type", "thought", "--content", "x", "--reliable"))
            .AssertOneLineError("swarm messages are not acknowledged");
    }

    private static string[] PeerIds(JsonElement response) =>
        [.. response.GetProperty("peers").EnumerateArray().Select(p => p.GetProperty("peerId").GetString()!)];
}
