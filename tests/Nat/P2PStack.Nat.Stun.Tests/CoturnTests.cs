using System.Net;
using System.Text.Json.Nodes;
using P2PStack.Nat.Testing;

namespace P2PStack.Nat.Stun.Tests;

/// <summary>
/// One lab for the class: coturn (Debian's, installed by the fixture) on a public host with two addresses, a public
/// host, a host behind an endpoint-independent NAT and one behind a symmetric NAT. Our STUN client runs as the test
/// node inside each namespace.
/// </summary>
public sealed class StunLab : LabFixture, IAsyncLifetime
{
    public Coturn Coturn { get; private set; } = null!;

    public NetNamespace Public { get; private set; } = null!;

    public NatRouter ConeRouter { get; private set; } = null!;

    public NetNamespace BehindCone { get; private set; } = null!;

    public NatRouter SymmetricRouter { get; private set; } = null!;

    public NetNamespace BehindSymmetric { get; private set; } = null!;

    protected override TimeSpan SetupTimeout => TimeSpan.FromMinutes(10);

    protected override async Task SetUpAsync(CancellationToken ct)
    {
        var stunHost = await Lab.AddPublicHostAsync("stun", ct);
        Coturn = await Coturn.StartAsync(stunHost, ct);
        Public = await Lab.AddPublicHostAsync("pub", ct);
        ConeRouter = await Lab.AddNatRouterAsync("cone", NatBehaviour.EndpointIndependent, ct);
        BehindCone = await Lab.AddHostBehindAsync(ConeRouter, "conehost", ct);
        SymmetricRouter = await Lab.AddNatRouterAsync("sym", NatBehaviour.Symmetric, ct);
        BehindSymmetric = await Lab.AddHostBehindAsync(SymmetricRouter, "symhost", ct);
    }

    protected override async ValueTask TearDownAsync()
    {
        if (Coturn is not null) await Coturn.DisposeAsync();
    }
}

public sealed class CoturnTests(StunLab lab) : IClassFixture<StunLab>
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(3);

    private async Task<JsonObject> RunAsync(NetNamespace ns, string command, params string[] arguments)
    {
        using var timeout = new CancellationTokenSource(Timeout);
        var answer = await TestNodes.RunAsync(ns, timeout.Token, command, arguments);
        Assert.True(answer["ok"]?.GetValue<bool>() == true, $"{command} in {ns.Label}: {answer.ToJsonString()}\n{lab.Coturn.Tail()}");
        return answer;
    }

    [SkippableFact]
    public async Task BindingFromAPublicHostSeesItsOwnAddressAndTheAlternate()
    {
        Skip.If(lab.Unavailable is not null, lab.Unavailable);
        var answer = await RunAsync(lab.Public, "stun-binding", "--server", lab.Coturn.Primary.ToString(), "--local-port", "40001");
        Assert.Equal(new IPEndPoint(lab.Public.Address, 40001).ToString(), answer["mapped"]!.GetValue<string>());
        Assert.Equal(lab.Coturn.Alternate.ToString(), answer["otherAddress"]!.GetValue<string>());
        Assert.Equal(lab.Coturn.Primary.ToString(), answer["responseOrigin"]!.GetValue<string>());
        Assert.Equal(1, answer["transmissions"]!.GetValue<int>());
    }

    [SkippableFact]
    public async Task ChangeRequestIsAnsweredFromTheAlternateAddress()
    {
        Skip.If(lab.Unavailable is not null, lab.Unavailable);
        var answer = await RunAsync(lab.Public, "stun-binding", "--server", lab.Coturn.Primary.ToString(), "--change", "ip,port");
        Assert.Equal(lab.Coturn.Alternate.ToString(), answer["receivedFrom"]!.GetValue<string>());
    }

    [SkippableFact]
    public async Task PublicHostIsOpen()
    {
        Skip.If(lab.Unavailable is not null, lab.Unavailable);
        var answer = await RunAsync(lab.Public, "stun-discover", "--server", lab.Coturn.Primary.ToString());
        Assert.Equal("NoNat", answer["mapping"]!.GetValue<string>());
        Assert.Equal("EndpointIndependent", answer["filtering"]!.GetValue<string>());
        Assert.Equal("open", answer["natType"]!.GetValue<string>());
    }

    [SkippableFact]
    public async Task PortPreservingMasqueradeIsAPortRestrictedCone()
    {
        Skip.If(lab.Unavailable is not null, lab.Unavailable);
        var answer = await RunAsync(lab.BehindCone, "stun-discover", "--server", lab.Coturn.Primary.ToString(), "--local-port", "40002", "--rto-ms", "100");
        Assert.Equal(new IPEndPoint(lab.ConeRouter.WanAddress, 40002).ToString(), answer["mapped"]!.GetValue<string>());
        Assert.Equal("EndpointIndependent", answer["mapping"]!.GetValue<string>());
        Assert.Equal("AddressAndPortDependent", answer["filtering"]!.GetValue<string>());
        Assert.Equal("port-restricted-cone", answer["natType"]!.GetValue<string>());
        Assert.True(answer["holePunchingPossible"]!.GetValue<bool>());
    }

    [SkippableFact]
    public async Task RandomFullyMasqueradeIsSymmetric()
    {
        Skip.If(lab.Unavailable is not null, lab.Unavailable);
        var answer = await RunAsync(lab.BehindSymmetric, "stun-discover", "--server", lab.Coturn.Primary.ToString(), "--local-port", "40003", "--rto-ms", "100");
        var mapped = IPEndPoint.Parse(answer["mapped"]!.GetValue<string>());
        Assert.Equal(lab.SymmetricRouter.WanAddress, mapped.Address);
        Assert.Equal("AddressAndPortDependent", answer["mapping"]!.GetValue<string>());
        Assert.Equal("symmetric", answer["natType"]!.GetValue<string>());
        Assert.False(answer["holePunchingPossible"]!.GetValue<bool>());
    }
}
