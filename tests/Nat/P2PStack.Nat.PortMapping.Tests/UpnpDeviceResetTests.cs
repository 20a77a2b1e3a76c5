using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;
using P2PStack.Nat.Testing;
using Xunit.Abstractions;

namespace P2PStack.Nat.PortMapping.Tests;

/// <summary>
/// A LAN device that answers SSDP but resets the connection when its device description is fetched (a device
/// rebooting, a crashed web server): discovery skips it and goes on with the other answers, and names it in the error
/// when no device is usable. It once failed the whole discovery with a <see cref="GatewayConnectionException"/>, even
/// with a working gateway on the LAN.
/// </summary>
[Collection(PortMappingMetricsCollection.Name)]
public sealed class UpnpDeviceResetTests(ITestOutputHelper output) : IDisposable
{
    private const string Server = "FakeResetter/1.0";
    private static readonly IPAddress External = IPAddress.Parse("11.0.2.1");
    private readonly MetricCapture _metrics = new(PortMappingMetrics.MeterName);

    public void Dispose() => _metrics.Dispose();

    private static FakeSsdpResponder ResettingDevice(Func<EndPoint, Task>? alsoAnswering = null) => new(d =>
        "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n"
        + $"USN: uuid:fake-resetter::upnp:rootdevice\r\nLOCATION: {d.Location}\r\nSERVER: {Server}\r\n\r\n", "")
    {
        ResetDescriptionFetch = true,
        AlsoAnswering = alsoAnswering,
    };

    private static PortMapper Mapper(IPEndPoint ssdp) => new(Options.Create(new PortMappingOptions
    {
        Protocols = PortMappingProtocols.Upnp,
        SsdpEndPoint = ssdp,
        SsdpTimeout = TimeSpan.FromSeconds(1),
        HttpTimeout = TimeSpan.FromSeconds(5),
    }), new PortMappingMetrics());

    [Fact]
    public async Task ADeviceThatResetsItsDescriptionFetchIsSkippedAndTheWorkingGatewayMaps()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        using var gateway = new FakeUpnpGateway(External);
        // Both devices hear the search (the resetting one passes it to the gateway, as the multicast group would).
        using var resetting = ResettingDevice(gateway.AnswerSearchAsync);
        using var mapper = Mapper(resetting.SsdpEndPoint);

        var found = await mapper.DiscoverUpnpAsync(timeout.Token);
        Assert.Equal(gateway.Location, Assert.Single(found).Location);

        var mapping = await mapper.MapAsync(MappingProtocol.Tcp, 4002, timeout.Token);
        Assert.Equal(("UPnP", External, 4002), (mapping.Method, mapping.ExternalAddress, mapping.ExternalPort));
        Assert.Equal(["GetExternalIPAddress", "AddPortMapping"], gateway.Actions);
        Assert.Equal(1, _metrics.Sum("p2pstack_port_mappings_created_total", "method=UPnP"));
        Assert.Equal(0, _metrics.Sum("p2pstack_port_mapping_failures_total"));
    }

    [Fact]
    public async Task ADeviceThatResetsItsDescriptionFetchIsNamedWhenNoDeviceIsUsable()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        using var resetting = ResettingDevice();
        using var mapper = Mapper(resetting.SsdpEndPoint);

        var error = await Assert.ThrowsAsync<GatewayNotFoundException>(() => mapper.DiscoverUpnpAsync(timeout.Token));
        output.WriteLine(error.Message);
        Assert.Contains("no usable Internet Gateway Device among the SSDP answers", error.Message, StringComparison.Ordinal);
        Assert.Contains(resetting.Address.ToString(), error.Message, StringComparison.Ordinal); // who answered
        Assert.Contains($"SERVER '{Server}'", error.Message, StringComparison.Ordinal);
        Assert.Contains(resetting.Location.ToString(), error.Message, StringComparison.Ordinal); // what failed
        // and how: the reset itself, not only HttpClient's "An error occurred while sending the request"
        Assert.Contains(new SocketException((int)SocketError.ConnectionReset).Message, error.Message, StringComparison.Ordinal);
    }
}
