using System.Text.Json.Nodes;
using P2PStack.Nat.Testing;

namespace P2PStack.Nat.PortMapping.Tests;

/// <summary>
/// Two routers running Debian's miniupnpd (UPnP IGD, NAT-PMP, PCP): one with a public WAN address, where mappings
/// really forward connections from the public side; one with a private WAN address (a NAT behind a carrier NAT),
/// where miniupnpd 2.3.1 refuses every mapping ("private/reserved address ... is not suitable for external IP").
/// </summary>
public sealed class MiniupnpdLab : LabFixture, IAsyncLifetime
{
    public NetNamespace Public { get; private set; } = null!;

    public NatRouter Router { get; private set; } = null!;

    public Miniupnpd Igd { get; private set; } = null!;

    public NetNamespace Host { get; private set; } = null!;

    public NatRouter CarrierNatted { get; private set; } = null!;

    public Miniupnpd RefusingIgd { get; private set; } = null!;

    public NetNamespace RefusedHost { get; private set; } = null!;

    protected override TimeSpan SetupTimeout => TimeSpan.FromMinutes(10);

    protected override async Task SetUpAsync(CancellationToken ct)
    {
        Public = await Lab.AddPublicHostAsync("pub", ct);
        Router = await Lab.AddNatRouterAsync("igd", NatBehaviour.EndpointIndependent, ct, iptables: "iptables-legacy");
        Host = await Lab.AddHostBehindAsync(Router, "host", ct);
        Igd = await Miniupnpd.StartAsync(Router, ct); // after the LAN exists: it listens on the LAN bridge
        CarrierNatted = await Lab.AddNatRouterAsync("cgn", NatBehaviour.EndpointIndependent, ct, iptables: "iptables-legacy", privateWan: true);
        RefusedHost = await Lab.AddHostBehindAsync(CarrierNatted, "refused", ct);
        RefusingIgd = await Miniupnpd.StartAsync(CarrierNatted, ct);
    }

    protected override async ValueTask TearDownAsync()
    {
        if (Igd is not null) await Igd.DisposeAsync();
        if (RefusingIgd is not null) await RefusingIgd.DisposeAsync();
    }
}

public sealed class MiniupnpdTests(MiniupnpdLab lab) : IClassFixture<MiniupnpdLab>
{
    private static CancellationToken Timeout() => new CancellationTokenSource(TimeSpan.FromMinutes(3)).Token;

    private async Task<JsonObject> OkAsync(NetNamespace ns, string command, params string[] arguments)
    {
        var answer = await TestNodes.RunAsync(ns, Timeout(), command, arguments);
        Assert.True(answer["ok"]?.GetValue<bool>() == true, $"{command}: {answer.ToJsonString()}\n{lab.Igd.Tail()}");
        return answer;
    }

    private static async Task<JsonObject> FailAsync(NetNamespace ns, string command, params string[] arguments)
    {
        var answer = await TestNodes.RunAsync(ns, Timeout(), command, arguments);
        Assert.True(answer["ok"]?.GetValue<bool>() == false, $"{command} should fail: {answer.ToJsonString()}");
        return answer;
    }

    [SkippableFact]
    public async Task SsdpFindsTheGatewayAndItsWanConnection()
    {
        Skip.If(lab.Unavailable is not null, lab.Unavailable);
        var answer = await OkAsync(lab.Host, "upnp-discover");
        var gateway = Assert.Single(answer["gateways"]!.AsArray())!;
        Assert.StartsWith($"http://{lab.Router.LanAddress}:{lab.Igd.HttpPort}/", gateway["location"]!.GetValue<string>());
        Assert.StartsWith("urn:schemas-upnp-org:service:WANIPConnection:", gateway["serviceType"]!.GetValue<string>());
        Assert.Equal(lab.Router.WanAddress.ToString(), gateway["externalAddress"]!.GetValue<string>());
    }

    [SkippableFact]
    public async Task UpnpMappingForwardsAConnectionFromThePublicSideAndIsRemovedAfterwards()
    {
        Skip.If(lab.Unavailable is not null, lab.Unavailable);
        var serve = TestNodes.RunAsync(lab.Host, Timeout(), "portmap-serve", "--port", "4101", "--protocols", "Upnp");
        // The serving node maps first; probe until the mapping is in place (the probe's connect fails before).
        JsonObject probe;
        int attempts = 0;
        do
        {
            await Task.Delay(500);
            probe = await TestNodes.RunAsync(lab.Public, Timeout(), "tcp-probe", "--to", $"{lab.Router.WanAddress}:4101", "--timeout-ms", "5000");
        }
        while (probe["ok"]?.GetValue<bool>() != true && ++attempts < 60 && !serve.IsCompleted);
        Assert.True(probe["ok"]?.GetValue<bool>() == true, $"probe: {probe.ToJsonString()}\n{lab.Igd.Tail()}");
        Assert.Equal("mapped", probe["line"]!.GetValue<string>());
        var served = await serve;
        Assert.True(served["ok"]?.GetValue<bool>() == true, served.ToJsonString());
        Assert.Equal("UPnP", served["method"]!.GetValue<string>());
        Assert.Equal(lab.Router.WanAddress.ToString(), served["externalAddress"]!.GetValue<string>());
        Assert.Equal(lab.Public.Address.ToString(), served["acceptedFrom"]!.GetValue<string>());

        var gone = await FailAsync(lab.Host, "upnp-get", "--port", "4101");
        Assert.Equal("PortMappingRefusedException", gone["errorName"]!.GetValue<string>());
        Assert.Equal(714, gone["code"]!.GetValue<int>()); // NoSuchEntryInArray: DeletePortMapping removed it
    }

    /// <summary>A node's port mapping service maps its listen port on miniupnpd: the node advertises
    /// /ip4/WAN/tcp/PORT, a public node reaches it there and learns that address by identify; stopping the service
    /// removes the mapping, the address, and (identify push) the public node's record of it.</summary>
    [SkippableFact]
    public async Task ANodeAdvertisesTheAddressItsGatewayMappedAndIsReachedThere()
    {
        Skip.If(lab.Unavailable is not null, lab.Unavailable);
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        // Two observers to confirm an observed address: the public node, reaching us through the mapping, sees us at the
        // mapped address too, and with the lab's default of one it would stay advertised as observed after the mapping.
        await using var node = await TestNodes.StartNodeAsync(lab.Host,
            ["--listen", "/ip4/0.0.0.0/tcp/4110", "--port-mapping", "Upnp", "--observed-threshold", "2"], cts.Token);
        string peer = node.Ready["peerId"]!.GetValue<string>();
        string mapped = $"/ip4/{lab.Router.WanAddress}/tcp/4110";
        static bool Has(JsonObject answer, string field, string address) => answer[field]!.AsArray().Any(a => a!.GetValue<string>() == address);

        JsonObject addresses;
        int attempts = 0;
        do
        {
            await Task.Delay(500, cts.Token);
            addresses = await node.CommandAsync("addresses");
        }
        while (!Has(addresses, "advertised", mapped) && ++attempts < 60);
        Assert.True(Has(addresses, "mapped", mapped), $"{addresses.ToJsonString()}\n{lab.Igd.Tail()}");
        Assert.True(Has(addresses, "advertised", mapped), addresses.ToJsonString());

        await using var remote = await TestNodes.StartNodeAsync(lab.Public, [], cts.Token);
        await remote.CommandAsync("dial", new JsonObject { ["addr"] = $"{mapped}/p2p/{peer}" });
        JsonObject learned;
        attempts = 0;
        do
        {
            await Task.Delay(200, cts.Token);
            learned = await remote.CommandAsync("peer-addresses", new JsonObject { ["peer"] = peer });
        }
        while (!Has(learned, "record", mapped) && ++attempts < 100);
        Assert.True(Has(learned, "record", mapped), learned.ToJsonString());

        var stopped = await node.CommandAsync("portmap-stop");
        Assert.Empty(stopped["mapped"]!.AsArray());
        Assert.False(Has(stopped, "advertised", mapped), stopped.ToJsonString());
        attempts = 0;
        do
        {
            await Task.Delay(200, cts.Token);
            learned = await remote.CommandAsync("peer-addresses", new JsonObject { ["peer"] = peer });
        }
        while (Has(learned, "record", mapped) && ++attempts < 100);
        Assert.False(Has(learned, "record", mapped), learned.ToJsonString());
        var gone = await FailAsync(lab.Host, "upnp-get", "--port", "4110");
        Assert.Equal(714, gone["code"]!.GetValue<int>()); // NoSuchEntryInArray: the service removed it on stop
    }

    [SkippableFact]
    public async Task NatPmpAndPcpMapThroughTheSameGateway()
    {
        Skip.If(lab.Unavailable is not null, lab.Unavailable);
        string gateway = lab.Router.LanAddress.ToString();
        var external = await OkAsync(lab.Host, "natpmp-external", "--gateway", gateway);
        Assert.Equal(lab.Router.WanAddress.ToString(), external["externalAddress"]!.GetValue<string>());
        var natpmp = await OkAsync(lab.Host, "natpmp-map", "--gateway", gateway, "--port", "4102", "--lease", "120");
        Assert.Equal(4102, natpmp["externalPort"]!.GetValue<int>());
        Assert.Equal(120, natpmp["lifetimeSeconds"]!.GetValue<int>());
        var pcp = await OkAsync(lab.Host, "pcp-map", "--gateway", gateway, "--port", "4103", "--lease", "120");
        Assert.Equal(lab.Router.WanAddress.ToString(), pcp["externalAddress"]!.GetValue<string>());
        Assert.Equal(4103, pcp["externalPort"]!.GetValue<int>());
        var viaUpnp = await OkAsync(lab.Host, "upnp-get", "--port", "4103");
        Assert.Equal(lab.Host.Address.ToString(), viaUpnp["internalClient"]!.GetValue<string>()); // one table behind all three
    }

    [SkippableFact]
    public async Task PortMapperFallsBackThroughPcpAndNatPmpWhenUpnpIsOff()
    {
        Skip.If(lab.Unavailable is not null, lab.Unavailable);
        var answer = await OkAsync(lab.Host, "portmap", "--port", "4104", "--protocols", "Pcp, NatPmp", "--remove");
        Assert.Equal("PCP", answer["method"]!.GetValue<string>());
        Assert.True(answer["removed"]!.GetValue<bool>());
    }

    [SkippableFact]
    public async Task GatewayWithAPrivateWanAddressRefusesEveryProtocolWithTypedErrors()
    {
        Skip.If(lab.Unavailable is not null, lab.Unavailable);
        // SSDP discovery and the SOAP exchange work; only the mapping is refused.
        var discovered = await OkAsync(lab.RefusedHost, "upnp-discover");
        var gateway = Assert.Single(discovered["gateways"]!.AsArray())!;
        Assert.Equal("PortMappingRefusedException", gateway["externalAddressError"]!["errorName"]!.GetValue<string>());

        var failed = await FailAsync(lab.RefusedHost, "portmap", "--port", "4105");
        Assert.Equal("PortMappingFailedException", failed["errorName"]!.GetValue<string>());
        Assert.True(failed["refused"]!.GetValue<bool>());
        var errors = failed["errors"]!.AsArray().Select(e => e!.AsObject()).ToList();
        Assert.All(errors, e => Assert.Equal("PortMappingRefusedException", e["errorName"]!.GetValue<string>()));
        Assert.Equal(["UPnP", "PCP", "NAT-PMP"], errors.Select(e => e["protocol"]!.GetValue<string>()));
        Assert.Equal(8, errors[1]["code"]!.GetValue<int>());  // PCP NO_RESOURCES
        Assert.Equal(3, errors[2]["code"]!.GetValue<int>());  // NAT-PMP Network Failure
        Assert.Contains("not suitable for external IP", lab.RefusingIgd.Tail());
    }
}
