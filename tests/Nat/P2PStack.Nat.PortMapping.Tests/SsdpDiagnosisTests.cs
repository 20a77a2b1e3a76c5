using Microsoft.Extensions.Options;
using Xunit.Abstractions;

namespace P2PStack.Nat.PortMapping.Tests;

/// <summary>
/// SSDP answers arrive but none is a usable gateway: the error says who answered and why each answer was unusable,
/// not that no gateway answered (which sends one looking for a firewall instead of at the printer that answered).
/// </summary>
public sealed class SsdpDiagnosisTests(ITestOutputHelper output)
{
    private const string MediaServer =
        "<?xml version=\"1.0\"?><root xmlns=\"urn:schemas-upnp-org:device-1-0\"><specVersion><major>1</major><minor>0</minor></specVersion>"
        + "<device><deviceType>urn:schemas-upnp-org:device:MediaServer:1</deviceType><friendlyName>fake media server</friendlyName>"
        + "<serviceList><service><serviceType>urn:schemas-upnp-org:service:ContentDirectory:1</serviceType>"
        + "<serviceId>urn:upnp-org:serviceId:ContentDirectory</serviceId><controlURL>/ctl/ContentDir</controlURL>"
        + "<eventSubURL>/evt/ContentDir</eventSubURL><SCPDURL>/ContentDir.xml</SCPDURL></service></serviceList></device></root>";

    private static string Answer(string status, string location, string server, string padding = "") =>
        $"{status}\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n"
        + $"USN: uuid:fake::upnp:rootdevice\r\nLOCATION: {location}\r\nSERVER: {server}\r\n{padding}\r\n";

    public static TheoryData<string, string[]> Unusable => new()
    {
        { "elsewhere", ["FakePrinter/1.0", "points to another host (10.9.8.7)"] },
        { "not-200", ["'HTTP/1.1 404 Not Found'"] },
        { "not-a-gateway", ["FakeMediaServer/2.0", "offers no WANIPConnection or WANPPPConnection service"] },
        { "oversized", ["an answer over 2048 bytes (MaxSsdpResponseBytes)"] },
    };

    [Theory]
    [MemberData(nameof(Unusable))]
    public async Task AnSsdpAnswerThatIsNoUsableGatewayIsNamedWithTheReasonInTheError(string kind, string[] reasons)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        using var device = new FakeSsdpResponder(d => kind switch
        {
            "elsewhere" => Answer("HTTP/1.1 200 OK", "http://10.9.8.7:5000/desc.xml", "FakePrinter/1.0"),
            "not-200" => Answer("HTTP/1.1 404 Not Found", d.Location.ToString(), "FakeRouter/1.0"),
            "not-a-gateway" => Answer("HTTP/1.1 200 OK", d.Location.ToString(), "FakeMediaServer/2.0"),
            _ => Answer("HTTP/1.1 200 OK", d.Location.ToString(), "FakeRouter/1.0", $"X-PADDING: {new string('x', 3000)}\r\n"),
        }, MediaServer);
        var options = new PortMappingOptions
        {
            Protocols = PortMappingProtocols.Upnp,
            SsdpEndPoint = device.SsdpEndPoint,
            SsdpTimeout = TimeSpan.FromSeconds(1),
            HttpTimeout = TimeSpan.FromSeconds(5),
        };
        using var mapper = new PortMapper(Options.Create(options), new PortMappingMetrics());

        var error = await Assert.ThrowsAsync<GatewayNotFoundException>(() => mapper.DiscoverUpnpAsync(timeout.Token));
        output.WriteLine(error.Message);
        Assert.DoesNotContain("no Internet Gateway Device answered", error.Message, StringComparison.Ordinal);
        Assert.Contains(device.Address.ToString(), error.Message, StringComparison.Ordinal); // who answered
        foreach (string reason in reasons) Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task WithoutAnyAnswerTheErrorSaysNoGatewayAnswered()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var options = new PortMappingOptions
        {
            Protocols = PortMappingProtocols.Upnp,
            SsdpEndPoint = new System.Net.IPEndPoint(System.Net.IPAddress.Parse("127.0.0.1"), 9), // discard: nobody answers
            SsdpTimeout = TimeSpan.FromSeconds(1),
        };
        using var mapper = new PortMapper(Options.Create(options), new PortMappingMetrics());
        var error = await Assert.ThrowsAsync<GatewayNotFoundException>(() => mapper.DiscoverUpnpAsync(timeout.Token));
        Assert.Contains("no Internet Gateway Device answered SSDP", error.Message, StringComparison.Ordinal);
    }
}
