using System.Text.Json;

namespace SynapticMesh.Tests;

/// <summary>
/// Rendezvous from the CLI: a node initialised with <c>--rendezvous-server</c> is the point; a node initialised with
/// <c>--rendezvous POINT --rendezvous-namespace NS</c> registers there while it runs and unregisters when it stops;
/// a third finds it with <c>p2p discover --method rendezvous --namespace NS</c> and can connect to it by peer id.
/// </summary>
public sealed class RendezvousCliTests
{
    [Fact]
    public async Task ARegisteredNodeIsDiscoveredByNamespaceAndUnregistersWhenItStops()
    {
        using TempHome pointHome = new(), memberHome = new(), askerHome = new();
        string ns = $"ns-{Guid.NewGuid():N}";
        await InitAsync(pointHome, "--rendezvous-server");
        await using var point = await NodeProcess.StartAsync(pointHome);
        string pointAddress = point.TcpAddress;
        await InitAsync(memberHome, "--rendezvous", pointAddress, "--rendezvous-namespace", ns);
        Assert.Contains(ns, await File.ReadAllTextAsync(memberHome.File("config.json")));
        var member = await NodeProcess.StartAsync(memberHome);
        await using (member)
        {
            await InitAsync(askerHome, "--rendezvous", pointAddress);
            await using var asker = await NodeProcess.StartAsync(askerHome);

            var found = await Eventually.HoldsAsync(() => asker.RunJsonAsync("p2p", "discover", "--method", "rendezvous", "--namespace", ns),
                r => PeerIds(r).Contains(member.PeerId), "the member's registration is discovered");
            Assert.Equal([member.PeerId], PeerIds(found));
            Assert.Equal("rendezvous", found.GetProperty("method").GetString());
            // The signed record's addresses reach the member.
            string address = found.GetProperty("peers")[0].GetProperty("addresses")[0].GetString()!;
            var connect = await asker.RunAsync("p2p", "connect", $"{address}/p2p/{member.PeerId}");
            Assert.True(connect.ExitCode == 0, connect.Stderr);

            // Another namespace has nobody; a point given on the command line works as the configured one does.
            Assert.Empty(PeerIds(await asker.RunJsonAsync("p2p", "discover", "--method", "rendezvous", "--namespace", ns + "-other")));
            Assert.Equal([member.PeerId], PeerIds(await asker.RunJsonAsync("p2p", "discover", "--method", "rendezvous", "--namespace", ns,
                "--rendezvous", pointAddress)));
            (await point.RunAsync("p2p", "discover", "--method", "rendezvous", "--rendezvous", pointAddress)).AssertOneLineError("is this node");

            // A node that is no rendezvous point answers with an error, named for the point.
            var refused = await asker.RunAsync("p2p", "discover", "--method", "rendezvous", "--rendezvous", member.TcpAddress, "--json");
            refused.AssertOneLineError("no rendezvous point answered");
            (await asker.RunAsync("p2p", "discover", "--method", "kademlia", "--namespace", ns)).AssertOneLineError("--method rendezvous");

            // A clean stop (SIGTERM) unregisters.
            CliProcess.SendSigterm(member.Process);
            await member.Process.WaitForExitAsync().WaitAsync(NodeProcess.StartTimeout);
            Assert.Empty(PeerIds(await asker.RunJsonAsync("p2p", "discover", "--method", "rendezvous", "--namespace", ns)));
        }
    }

    private static async Task InitAsync(TempHome home, params string[] args)
    {
        var init = await CliProcess.RunAsync(["p2p", "init", "--home", home.Path, "--no-passphrase", "--listen", "/ip4/127.0.0.1/tcp/0", "--mdns", "off", .. args]);
        Assert.True(init.ExitCode == 0, init.Stderr);
    }

    private static string[] PeerIds(JsonElement response) =>
        [.. response.GetProperty("peers").EnumerateArray().Select(p => p.GetProperty("peerId").GetString()!)];
}
