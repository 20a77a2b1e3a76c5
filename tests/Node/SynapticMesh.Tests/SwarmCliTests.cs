namespace SynapticMesh.Tests;

/// <summary>Neural swarms from the CLI: join/leave/list, and a swarm message from a third node reaching listen.</summary>
[Collection(ThreeNodesCollection.Name)]
public sealed class SwarmCliTests(ThreeNodes nodes)
{
    [Fact]
    public async Task JoinedSwarmsMessagesFromAnotherNodeReachListen()
    {
        string swarm = $"research-{Guid.NewGuid():N}"[..24];
        var joined = await nodes.A.RunJsonAsync("p2p", "swarm", "join", swarm);
        Assert.True(joined.GetProperty("changed").GetBoolean());
        Assert.Contains(swarm, joined.GetProperty("swarms").EnumerateArray().Select(s => s.GetString()));
        Assert.False((await nodes.A.RunJsonAsync("p2p", "swarm", "join", swarm)).GetProperty("changed").GetBoolean());
        await nodes.B.RunJsonAsync("p2p", "swarm", "join", swarm);

        await using var listenA = await CliStream.StartAsync(nodes.A, "p2p", "listen", "--swarm", swarm, "--json");
        await using var listenB = await CliStream.StartAsync(nodes.B, "p2p", "listen", "--json");
        // C is not a member: it publishes to the swarm's topic once it knows both members are subscribed.
        string topic = $"/synaptic/swarm/{swarm}/thought";
        await Eventually.HoldsAsync(() => nodes.C.RunJsonAsync("p2p", "pubsub", "peers", topic),
            p => p.GetProperty("peers").GetArrayLength() == 2, "C knows both swarm members");

        var sent = await nodes.C.RunJsonAsync("p2p", "message", $"swarm:{swarm}", "--msg-type", "thought", "--content", "to the swarm");
        foreach (var listen in new[] { listenA, listenB })
        {
            // The nodes are shared with other tests: B's unfiltered listen may first print a late message of theirs.
            var message = await listen.ReadJsonAsync();
            while (message.GetProperty("id").GetString() != sent.GetProperty("id").GetString()) message = await listen.ReadJsonAsync();
            Assert.Equal(nodes.C.PeerId, message.GetProperty("from").GetString());
            Assert.Equal($"swarm:{swarm}", message.GetProperty("to").GetString());
            Assert.Equal("to the swarm", message.GetProperty("content").GetString());
        }

        var list = await nodes.B.RunJsonAsync("p2p", "swarm", "list");
        var entry = list.GetProperty("swarms").EnumerateArray().Single(s => s.GetProperty("name").GetString() == swarm);
        Assert.True(entry.GetProperty("peers").GetInt32() >= 1);
        var table = await nodes.B.RunAsync("p2p", "swarm", "list");
        Assert.Contains($"{swarm}\t", table.Stdout);

        Assert.Equal(0, (await nodes.B.RunAsync("p2p", "swarm", "leave", swarm)).ExitCode);
        var again = await nodes.B.RunAsync("p2p", "swarm", "leave", swarm, "--json");
        again.AssertOneLineError($"not a member of swarm {swarm}");
        Assert.Equal("not_found", again.JsonError().GetProperty("code").GetString());
        (await nodes.B.RunAsync("p2p", "swarm", "join", "bad name!")).AssertOneLineError("is not a swarm name");
    }

    [Fact]
    public async Task ListenToASwarmJoinsItUntilTheLastListenerEnds()
    {
        string swarm = $"listeners-{Guid.NewGuid():N}"[..24];
        async Task<bool> MemberAsync() => (await nodes.C.RunJsonAsync("p2p", "swarm", "list")).GetProperty("swarms").EnumerateArray()
            .Any(s => s.GetProperty("name").GetString() == swarm);

        await using var first = await CliStream.StartAsync(nodes.C, "p2p", "listen", "--swarm", swarm);
        Assert.True(await MemberAsync());
        await using var second = await CliStream.StartAsync(nodes.C, "p2p", "listen", "--swarm", swarm);
        Assert.Equal(0, await first.StopAsync());
        await Task.Delay(500); // let the node see the first listener go (the check below must still hold after it)
        Assert.True(await MemberAsync());
        Assert.Equal(0, await second.StopAsync());
        await Eventually.HoldsAsync(MemberAsync, member => !member, "C left the swarm with its last listener");

        // Joined explicitly, a swarm stays when a listener of it ends.
        await nodes.C.RunJsonAsync("p2p", "swarm", "join", swarm);
        await using (var third = await CliStream.StartAsync(nodes.C, "p2p", "listen", "--swarm", swarm)) Assert.Equal(0, await third.StopAsync());
        await Task.Delay(500);
        Assert.True(await MemberAsync());
        await nodes.C.RunJsonAsync("p2p", "swarm", "leave", swarm);
    }
}
