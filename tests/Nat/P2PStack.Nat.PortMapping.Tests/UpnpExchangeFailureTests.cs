using System.Net;
using Microsoft.Extensions.Options;
using P2PStack.Nat.Testing;

namespace P2PStack.Nat.PortMapping.Tests;

/// <summary>Tests that count the port mapper's metrics (one meter, listened to by name) run one after another.</summary>
[CollectionDefinition(Name)]
public sealed class PortMappingMetricsCollection
{
    public const string Name = "port mapping metrics";
}

/// <summary>
/// A UPnP gateway that breaks off the HTTP exchange of AddPortMapping (a reset before or during its answer, bytes
/// that are not HTTP, no answer): the mapper ends with a typed error, counted in
/// <c>p2pstack_port_mapping_failures_total</c> under the reasons the other protocols use, and goes on to the next one.
/// </summary>
[Collection(PortMappingMetricsCollection.Name)]
public sealed class UpnpExchangeFailureTests : IDisposable
{
    private static readonly IPAddress External = IPAddress.Parse("11.0.1.1");
    private readonly FakeUpnpGateway _gateway = new(External);
    private readonly MetricCapture _metrics = new(PortMappingMetrics.MeterName);

    public void Dispose()
    {
        _metrics.Dispose();
        _gateway.Dispose();
    }

    private static PortMapper Mapper(Action<PortMappingOptions> configure)
    {
        var options = new PortMappingOptions { HttpTimeout = TimeSpan.FromSeconds(2) };
        configure(options);
        return new PortMapper(Options.Create(options), new PortMappingMetrics());
    }

    [Theory]
    [InlineData(UpnpMisbehaviour.Reset, typeof(GatewayConnectionException), "network")]
    [InlineData(UpnpMisbehaviour.ResetInBody, typeof(GatewayConnectionException), "network")]
    [InlineData(UpnpMisbehaviour.Garbage, typeof(PortMappingFormatException), "malformed")]
    [InlineData(UpnpMisbehaviour.Silent, typeof(GatewayNotFoundException), "not_found")]
    public async Task ARenewalTheGatewayBreaksOffIsATypedCountedFailure(UpnpMisbehaviour misbehaviour, Type expected, string reason)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        using var mapper = Mapper(o => o.Protocols = PortMappingProtocols.Upnp);
        using var http = new HttpClient();
        var upnp = await UpnpGateway.FromLocationAsync(http, mapper.Options, _gateway.Location, timeout.Token);
        var mapping = new PortMappingResult("UPnP", MappingProtocol.Tcp, 4000, External, 4000, TimeSpan.FromHours(1), _gateway.Address)
        {
            Upnp = upnp,
        };
        _gateway.AddPortMapping = misbehaviour;

        var failed = await Assert.ThrowsAsync<PortMappingFailedException>(() => mapper.RenewAsync(mapping, timeout.Token));
        Assert.IsType(expected, Assert.Single(failed.Errors));
        Assert.Equal(["GetExternalIPAddress", "AddPortMapping"], _gateway.Actions);
        Assert.Equal(1, _metrics.Sum("p2pstack_port_mapping_failures_total", "method=UPnP", $"reason={reason}"));
        Assert.Equal(1, _metrics.Sum("p2pstack_port_mapping_failures_total"));
        Assert.Equal(0, _metrics.Sum("p2pstack_port_mappings_created_total"));

        // The same gateway answering again renews the mapping.
        _gateway.AddPortMapping = UpnpMisbehaviour.None;
        var renewed = await mapper.RenewAsync(mapping, timeout.Token);
        Assert.Equal(("UPnP", External, 4000), (renewed.Method, renewed.ExternalAddress, renewed.ExternalPort));
        Assert.Equal(1, _metrics.Sum("p2pstack_port_mappings_created_total", "method=UPnP"));
    }

    [Theory]
    [InlineData(UpnpMisbehaviour.ResetInBody, "network")]
    [InlineData(UpnpMisbehaviour.Garbage, "malformed")]
    public async Task AMappingTheUpnpGatewayBreaksOffFallsBackToNatPmp(UpnpMisbehaviour misbehaviour, string reason)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        using var natPmp = new FakeNatPmpGateway(External);
        using var mapper = Mapper(o =>
        {
            o.Protocols = PortMappingProtocols.Upnp | PortMappingProtocols.NatPmp;
            o.SsdpEndPoint = _gateway.SsdpEndPoint; // SSDP discovery finds the fake IGD on its loopback address
            o.SsdpTimeout = TimeSpan.FromSeconds(1);
            o.Gateway = natPmp.Address;
        });
        _gateway.AddPortMapping = misbehaviour;

        var mapping = await mapper.MapAsync(MappingProtocol.Tcp, 4001, timeout.Token);
        Assert.Equal(("NAT-PMP", External, 4001), (mapping.Method, mapping.ExternalAddress, mapping.ExternalPort));
        Assert.Equal(["GetExternalIPAddress", "AddPortMapping"], _gateway.Actions);
        Assert.Equal(1, _metrics.Sum("p2pstack_port_mapping_failures_total", "method=UPnP", $"reason={reason}"));
        Assert.Equal(1, _metrics.Sum("p2pstack_port_mappings_created_total", "method=NAT-PMP"));
    }
}
