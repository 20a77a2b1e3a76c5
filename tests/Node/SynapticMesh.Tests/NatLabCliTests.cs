using System.Text.Json;
using System.Text.Json.Nodes;
using P2PStack.Nat.Testing;

namespace SynapticMesh.Tests;

/// <summary>
/// <c>synaptic-mesh p2p start</c> nodes behind real NATs (tests/Nat/P2PStack.Nat.Testing: network namespaces, Linux
/// routers doing MASQUERADE, public addresses in 11.0.0.0/16 that exist only inside the lab): a public relay R
/// (<c>--relay-service --nat off</c>), coturn (Debian's, installed by the fixture) on a public host with two addresses,
/// A behind one endpoint-independent NAT (<c>--nat auto --stun-server</c>), and for each test a fresh target behind
/// another, reserving on R (<c>--relay</c>). A reaches the targets only through their relay addresses; the commands run inside the nodes'
/// namespaces (the control API is on each namespace's loopback). The lab and every process in it go on dispose.
/// </summary>
public sealed class NatLabNodes : IAsyncLifetime
{
    private readonly List<TempHome> _homes = [];

    public string? Unavailable { get; private set; }

    public NetLab Lab { get; private set; } = null!;

    public Coturn Coturn { get; private set; } = null!;

    public NatRouter ConeA { get; private set; } = null!;

    public NatRouter ConeB { get; private set; } = null!;

    public NodeProcess R { get; private set; } = null!;

    public NodeProcess A { get; private set; } = null!;

    /// <summary>R's TCP address on the lab's public network (with /p2p).</summary>
    public string RelayAddress { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Unavailable = await NetLab.UnavailableReasonAsync();
        if (Unavailable is not null) return;
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10)); // hang guard (package installs included)
        var ct = timeout.Token;
        Lab = await NetLab.CreateAsync(ct);
        var relayHost = await Lab.AddPublicHostAsync("relay", ct);
        Coturn = await Coturn.StartAsync(await Lab.AddPublicHostAsync("stun", ct), ct);
        ConeA = await Lab.AddNatRouterAsync("conea", NatBehaviour.EndpointIndependent, ct);
        ConeB = await Lab.AddNatRouterAsync("coneb", NatBehaviour.EndpointIndependent, ct);

        R = await StartAsync(relayHost, "--relay-service", "--nat", "off");
        string port = R.TcpAddress.Split('/')[4];
        RelayAddress = $"/ip4/{relayHost.Address}/tcp/{port}/p2p/{R.PeerId}";
        A = await StartAsync(await Lab.AddHostBehindAsync(ConeA, "a", ct), "--nat", "auto", "--stun-server", Coturn.Primary.ToString());
    }

    /// <summary>
    /// A fresh node behind cone NAT B, reserved on the relay, for one test: a target shared by two tests could already
    /// be connected to A (A's Kademlia learns the relay's other clients once A has reached the relay) and even be
    /// direct by the second test (A was once connected to the stun test's target before it started).
    /// </summary>
    public async Task<NodeProcess> StartBehindConeBAsync(string label)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2)); // hang guard
        var node = await StartAsync(await Lab.AddHostBehindAsync(ConeB, label, timeout.Token), "--relay", RelayAddress, "--nat", "auto");
        lock (_targets) _targets.Add(node);
        return node;
    }

    private readonly List<NodeProcess> _targets = [];

    private async Task<NodeProcess> StartAsync(NetNamespace ns, params string[] extra)
    {
        var home = new TempHome();
        _homes.Add(home);
        var init = await CliProcess.RunAsync(["p2p", "init", "--home", home.Path, "--no-passphrase", "--listen", "/ip4/0.0.0.0/tcp/0", .. extra]);
        Assert.True(init.ExitCode == 0, init.Stderr);
        return await NodeProcess.StartInNamespaceAsync(home, ns.Name);
    }

    public async Task DisposeAsync()
    {
        foreach (var node in new[] { A, R }.Concat(_targets))
        {
            if (node is not null) await node.DisposeAsync();
        }
        if (Coturn is not null) await Coturn.DisposeAsync();
        if (Lab is not null) await Lab.DisposeAsync();
        foreach (var home in _homes) home.Dispose();
    }
}

public sealed class NatLabCliTests(NatLabNodes lab) : IClassFixture<NatLabNodes>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120); // hang guard only

    /// <summary>The node's relay address once its reservation on R is in place (reserved at start, in the background).</summary>
    private static async Task<string> RelayAddressAsync(NodeProcess node)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var status = await node.RunJsonAsync("p2p", "status");
            var relay = status.GetProperty("nat").GetProperty("relayAddresses").EnumerateArray().Select(a => a.GetString()!).ToList();
            if (relay.Count > 0) return relay[0];
            Assert.True(DateTime.UtcNow < deadline, $"no reservation: {status}\n{node.Stderr}");
            await Task.Delay(500);
        }
    }

    private static void AssertDirectAfterHolePunch(JsonElement answer, NatRouter remoteNat, NodeProcess remote)
    {
        Assert.True(answer.GetProperty("path").GetString() == "direct", $"{answer}\n{remote.Stderr}");
        Assert.Equal(remote.PeerId, answer.GetProperty("peerId").GetString());
        // A direct connection to the remote NAT's public address, made by DCUtR (not a dial to a reachable address).
        Assert.StartsWith($"/ip4/{remoteNat.WanAddress}/tcp/", answer.GetProperty("remoteAddress").GetString());
        Assert.True(answer.TryGetProperty("holePunch", out var reason) && reason.GetString() == "hole_punch", $"{answer}\n{remote.Stderr}");
        Assert.InRange(answer.GetProperty("attempts").GetInt32(), 1, 3);
        Assert.True(answer.GetProperty("holePunchMs").GetDouble() > 0);
        Assert.Equal(JsonValueKind.Null, answer.GetProperty("relay").ValueKind);
    }

    /// <summary>Both ends counted the traversal once: the <c>p2p nat</c> caller under its method (its only request of that
    /// method in this class), the fresh remote node, DCUtR's initiator, as one direct <c>dcutr</c> hole punch.</summary>
    private static async Task AssertCountedDirectAsync(JsonElement answer, NodeProcess remote)
    {
        var counts = answer.GetProperty("traversals");
        Assert.True(counts.GetProperty("direct").GetInt64() == 1 && counts.GetProperty("relayed").GetInt64() == 0
            && counts.GetProperty("failed").GetInt64() == 0, counts.ToString());
        Assert.Equal(1.0, counts.GetProperty("directRate").GetDouble());
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60); // hang guard only: the initiator records after its dial returns
        while (true)
        {
            var traversals = (await remote.RunJsonAsync("p2p", "status")).GetProperty("nat").GetProperty("traversals");
            if (traversals.TryGetProperty("dcutr", out var dcutr))
            {
                Assert.True(dcutr.GetProperty("direct").GetInt64() == 1 && dcutr.GetProperty("total").GetInt64() == 1, traversals.ToString());
                Assert.Single(traversals.EnumerateObject());
                return;
            }
            Assert.True(DateTime.UtcNow < deadline, $"the initiator counted no hole punch: {traversals}");
            await Task.Delay(200);
        }
    }

    [SkippableFact]
    public async Task AutoHolePunchesThroughTwoConeNats()
    {
        Skip.If(lab.Unavailable is not null, lab.Unavailable);
        var c = await lab.StartBehindConeBAsync("c");
        string circuit = await RelayAddressAsync(c);
        Assert.StartsWith(lab.RelayAddress + "/p2p-circuit", circuit);
        var answer = await lab.A.RunJsonAsync("p2p", "nat", circuit, "--method", "auto");
        AssertDirectAfterHolePunch(answer, lab.ConeB, c);
        Assert.Equal(JsonValueKind.Null, answer.GetProperty("natType").ValueKind);
        await AssertCountedDirectAsync(answer, c);

        // The status lists C over a connection that is not limited.
        var status = await lab.A.RunJsonAsync("p2p", "status");
        var peer = status.GetProperty("peers").EnumerateArray().Single(p => p.GetProperty("peerId").GetString() == c.PeerId);
        Assert.False(peer.GetProperty("limited").GetBoolean(), peer.ToString());

        // A's public addresses are confirmed ones only: its address at cone A's WAN, which the hole punch offered as a
        // candidate, has one observer network (R), not the four that confirm it, so none is listed, and never its LAN
        // address; no verdict calls a node behind NAT public (the servers it has met are behind NAT or run none:
        // unknown, or private once three agree).
        var nat = status.GetProperty("nat");
        var publicAddresses = nat.GetProperty("publicAddresses").EnumerateArray().Select(a => a.GetString()!).ToList();
        Assert.All(publicAddresses, a => Assert.StartsWith($"/ip4/{lab.ConeA.WanAddress}/tcp/", a));
        Assert.Contains(nat.GetProperty("reachability").GetString(), new[] { "unknown", "private" });
    }

    [SkippableFact]
    public async Task StunReportsTheMappingFromCoturnThenHolePunches()
    {
        Skip.If(lab.Unavailable is not null, lab.Unavailable);
        var b = await lab.StartBehindConeBAsync("b");
        string circuit = await RelayAddressAsync(b);
        var before = await lab.A.RunJsonAsync("p2p", "status");
        Assert.DoesNotContain(before.GetProperty("peers").EnumerateArray(), p => p.GetProperty("peerId").GetString() == b.PeerId);
        var answer = await lab.A.RunJsonAsync("p2p", "nat", circuit, "--method", "stun");
        Assert.True(answer.TryGetProperty("holePunch", out _), $"{answer}\nA:\n{lab.A.Stderr}\nB:\n{b.Stderr}");
        Assert.Equal("stun", answer.GetProperty("method").GetString());
        // coturn saw A's UDP socket at its NAT's public address; MASQUERADE maps endpoint-independently and filters by
        // address and port (RFC 5780 behaviour discovery against coturn's two addresses).
        var published = answer.GetProperty("publicAddresses").EnumerateArray().Select(a => a.GetString()!).ToList();
        Assert.Contains(published, a => a.StartsWith($"/ip4/{lab.ConeA.WanAddress}/udp/", StringComparison.Ordinal));
        string natType = answer.GetProperty("natType").GetString()!;
        Assert.Equal("port-restricted-cone", natType);
        AssertDirectAfterHolePunch(answer, lab.ConeB, b);
        await AssertCountedDirectAsync(answer, b);
    }
}
