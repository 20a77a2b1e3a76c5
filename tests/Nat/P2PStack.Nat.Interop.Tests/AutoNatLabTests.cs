using System.Text.Json.Nodes;
using P2PStack.Interop.Support;
using P2PStack.Nat.Testing;

namespace P2PStack.Nat.Interop.Tests;

/// <summary>
/// AutoNAT between our node and js-libp2p in network namespaces with public addresses (js servers refuse private and
/// loopback addresses by design): js verifies its address through our server, we verify ours through js's v2 and v1
/// servers, and our client against our server on the public side.
/// </summary>
public sealed class AutoNatLab : LabFixture, IAsyncLifetime
{
    public JsonLinesPeer OurServer { get; private set; } = null!;

    public JsonLinesPeer JsServer { get; private set; } = null!;

    public JsonLinesPeer OurClient { get; private set; } = null!;

    /// <summary>A js node with AutoNAT v1 only (client and server).</summary>
    public JsonLinesPeer JsV1 { get; private set; } = null!;

    protected override async Task SetUpAsync(CancellationToken ct)
    {
        var serverHost = await Lab.AddPublicHostAsync("ourserver", ct);
        var jsHost = await Lab.AddPublicHostAsync("js", ct);
        var clientHost = await Lab.AddPublicHostAsync("ourclient", ct);
        var v1Host = await Lab.AddPublicHostAsync("jsv1", ct);
        OurServer = await Peers.CSharpAsync(serverHost, ["--listen", "/ip4/0.0.0.0/tcp/4001", "--autonat"], ct);
        JsV1 = await Peers.JsAsync(v1Host, ["--listen", "/ip4/0.0.0.0/tcp/4001", "--autonat-v1"], ct);
        JsServer = await Peers.JsAsync(jsHost, ["--listen", "/ip4/0.0.0.0/tcp/4001", "--autonat"], ct);
        OurClient = await Peers.CSharpAsync(clientHost, ["--listen", "/ip4/0.0.0.0/tcp/4001", "--confirmations", "1"], ct);
    }

    protected override async ValueTask TearDownAsync()
    {
        foreach (var peer in new[] { OurServer, JsServer, OurClient, JsV1 })
        {
            if (peer is not null) await peer.DisposeAsync();
        }
    }
}

public sealed class AutoNatLabTests(AutoNatLab lab) : IClassFixture<AutoNatLab>
{
    [SkippableFact]
    public async Task OurClientIsPublicThroughOurServer()
    {
        Skip.If(lab.Unavailable is not null, lab.Unavailable);
        await lab.OurClient.CommandAsync("dial", new JsonObject { ["addr"] = lab.OurServer.Address().ToString() });
        var probe = await lab.OurClient.CommandAsync("autonat-probe", new JsonObject { ["server"] = lab.OurServer.PeerId().ToString() });
        Assert.True(probe["reachable"]!.GetValue<bool>(), probe.ToJsonString());
        var reachability = await lab.OurClient.CommandAsync("reachability");
        Assert.Equal("Public", reachability["reachability"]!.GetValue<string>());
    }

    [SkippableTheory]
    [InlineData(2)]
    [InlineData(1)]
    public async Task JsVerifiesItsAddressThroughOurServer(int version)
    {
        Skip.If(lab.Unavailable is not null, lab.Unavailable);
        // js asks every new peer that speaks AutoNAT to verify its unverified public addresses (v2, or v1 for the v1-only node).
        var js = version == 2 ? lab.JsServer : lab.JsV1;
        await js.CommandAsync("dial", new JsonObject { ["addr"] = lab.OurServer.Address().ToString() });
        JsonObject addresses;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        do
        {
            await Task.Delay(500);
            addresses = await js.CommandAsync("addresses");
        }
        while (!Verified(addresses) && DateTime.UtcNow < deadline);
        Assert.True(Verified(addresses), addresses.ToJsonString());

        static bool Verified(JsonObject answer) => answer["metadata"]!.AsArray()
            .Any(m => m!["addr"]!.GetValue<string>().StartsWith("/ip4/11.0.0.", StringComparison.Ordinal) && m["verified"]?.GetValue<bool>() == true);
    }

    /// <summary>
    /// v2 only: @libp2p/autonat 3.0's v1 server "dials back" through the requester's existing connection and closes it
    /// before answering (its finally block closes whatever connection openConnection returned), so no v1 client on a
    /// single connection ever reads its answer; our v1 client is tested against our server and js's v1 client above.
    /// </summary>
    [SkippableFact]
    public async Task JsV2ServerDialsUsBack()
    {
        Skip.If(lab.Unavailable is not null, lab.Unavailable);
        await lab.OurClient.CommandAsync("dial", new JsonObject { ["addr"] = lab.JsServer.Address().ToString() });
        var probe = await lab.OurClient.CommandAsync("autonat-probe", new JsonObject
        {
            ["server"] = lab.JsServer.PeerId().ToString(),
            ["version"] = 2,
        });
        Assert.True(probe["reachable"]!.GetValue<bool>(), probe.ToJsonString());
    }

    [SkippableFact]
    public async Task OurV1ClientIsAnsweredByOurV1Server()
    {
        Skip.If(lab.Unavailable is not null, lab.Unavailable);
        await lab.OurClient.CommandAsync("dial", new JsonObject { ["addr"] = lab.OurServer.Address().ToString() });
        var probe = await lab.OurClient.CommandAsync("autonat-probe", new JsonObject
        {
            ["server"] = lab.OurServer.PeerId().ToString(),
            ["version"] = 1,
        });
        Assert.True(probe["reachable"]!.GetValue<bool>(), probe.ToJsonString());
    }
}
