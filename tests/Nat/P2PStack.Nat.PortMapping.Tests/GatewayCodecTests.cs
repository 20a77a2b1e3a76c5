using System.Net;
using System.Text;
using FsCheck;
using FsCheck.Fluent;

namespace P2PStack.Nat.PortMapping.Tests;

public class GatewayCodecTests
{
    private static readonly IPEndPoint Router = new(IPAddress.Parse("192.168.1.1"), 1900);
    private static readonly PortMappingOptions Options = new();

    private static byte[] SsdpAnswer(string location, string status = "HTTP/1.1 200 OK") => System.Text.Encoding.ASCII.GetBytes(
        $"{status}\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nLOCATION: {location}\r\nSERVER: x\r\n\r\n");

    [Fact]
    public void SsdpAnswerNamesTheDescriptionOnTheAnsweringHost()
    {
        var answer = P2PStack.Nat.PortMapping.Ssdp.Parse(SsdpAnswer("http://192.168.1.1:5000/rootDesc.xml"), Router);
        Assert.Equal(new Uri("http://192.168.1.1:5000/rootDesc.xml"), answer.Location);
        Assert.Equal("urn:schemas-upnp-org:device:InternetGatewayDevice:1", answer.SearchTarget);
    }

    [Theory]
    [InlineData("http://203.0.113.5/rootDesc.xml", "HTTP/1.1 200 OK")]   // another host: refused (we would fetch from elsewhere)
    [InlineData("http://router.example/rootDesc.xml", "HTTP/1.1 200 OK")] // a name: refused
    [InlineData("http://[fe80::1]:5000/rootDesc.xml", "HTTP/1.1 200 OK")] // an IPv6 literal: refused
    [InlineData("file:///etc/passwd", "HTTP/1.1 200 OK")]
    [InlineData("http://192.168.1.1:5000/rootDesc.xml", "HTTP/1.1 404 Not Found")]
    [InlineData("http://192.168.1.1:5000/rootDesc.xml", "NOTIFY * HTTP/1.1")]
    public void UnusableSsdpAnswersAreRefused(string location, string status) =>
        Assert.Throws<PortMappingFormatException>(() => P2PStack.Nat.PortMapping.Ssdp.Parse(SsdpAnswer(location, status), Router));

    /// <summary>The port mapper routes towards the device's IPv4 address to find the client it maps for; a location
    /// naming the device by host name or IPv6 address is refused, typed, before any request (it used to be accepted,
    /// and a mapping with it would have ended in an untyped FormatException of IPAddress.Parse).</summary>
    [Theory]
    [InlineData("http://router.example:5000/rootDesc.xml")]
    [InlineData("http://localhost:5000/rootDesc.xml")]
    [InlineData("http://[fe80::1]:5000/rootDesc.xml")]
    [InlineData("http://[::ffff:192.168.1.1]:5000/rootDesc.xml")]
    public async Task GatewayLocationNotOnAnIpv4AddressIsRefusedBeforeAnyRequest(string location)
    {
        var handler = new CountingHandler();
        using var http = new HttpClient(handler);
        await Assert.ThrowsAsync<PortMappingFormatException>(() => UpnpGateway.FromLocationAsync(http, Options, new Uri(location), CancellationToken.None));
        Assert.Equal(0, handler.Requests);
    }

    [Fact]
    public void GatewayAddressIsTheLocationsIpv4Address() =>
        Assert.Equal(IPAddress.Parse("192.168.1.1"), UpnpGateway.DeviceAddress(new Uri("http://192.168.1.1:5000/rootDesc.xml")));

    private sealed class CountingHandler : HttpMessageHandler
    {
        public int Requests;

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Requests);
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.NotFound));
        }
    }

    [Fact]
    public void RandomSsdpDatagramsFailOnlyWithTheFormatException() =>
        Prop.ForAll<byte[]>(bytes => Record.Exception(() => P2PStack.Nat.PortMapping.Ssdp.Parse(bytes, Router)) is null or PortMappingFormatException)
            .QuickCheckThrowOnFailure();

    [Fact]
    public void SoapFaultBecomesARefusalWithTheUpnpErrorCode()
    {
        const string fault = """
            <?xml version="1.0"?>
            <s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">
            <s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>
            <UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>718</errorCode><errorDescription>ConflictInMappingEntry</errorDescription></UPnPError>
            </detail></s:Fault></s:Body></s:Envelope>
            """;
        var error = Assert.Throws<PortMappingRefusedException>(() => UpnpGateway.ParseSoapAnswer(fault, "AddPortMapping", Options));
        Assert.Equal(718, error.Code);
        Assert.Equal("ConflictInMappingEntry", error.Reason);
    }

    [Fact]
    public void SoapAnswerGivesTheOutArguments()
    {
        const string answer = """
            <?xml version="1.0"?>
            <s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>
            <u:GetExternalIPAddressResponse xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:1"><NewExternalIPAddress>11.0.1.1</NewExternalIPAddress></u:GetExternalIPAddressResponse>
            </s:Body></s:Envelope>
            """;
        Assert.Equal("11.0.1.1", UpnpGateway.ParseSoapAnswer(answer, "GetExternalIPAddress", Options)["NewExternalIPAddress"]);
    }

    [Fact]
    public void DocumentTypeDefinitionsAreRefused()
    {
        // An entity expansion ("billion laughs") or an external entity would make a LAN device our file reader.
        const string evil = """
            <?xml version="1.0"?>
            <!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
            <s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:XResponse xmlns:u="u"><v>&b;</v></u:XResponse></s:Body></s:Envelope>
            """;
        Assert.Throws<PortMappingFormatException>(() => UpnpGateway.ParseSoapAnswer(evil, "X", Options));
    }

    [Fact]
    public void NatPmpAnswersAreCheckedAndResultCodesTyped()
    {
        byte[] ok = Convert.FromHexString("0080000000000064" + "0b000101");
        var (address, epoch) = NatPmpClient.ParseExternalAddress(ok);
        Assert.Equal(IPAddress.Parse("11.0.1.1"), address);
        Assert.Equal(100u, epoch);
        var refused = Assert.Throws<PortMappingRefusedException>(() => NatPmpClient.ParseExternalAddress(Convert.FromHexString("008000030000006400000000")));
        Assert.Equal(3, refused.Code);
        Assert.Throws<PortMappingFormatException>(() => NatPmpClient.ParseExternalAddress(Convert.FromHexString("0080000000000064")));
        Assert.Throws<PortMappingFormatException>(() => NatPmpClient.ParseMapping(Convert.FromHexString("0082000000000064"), MappingProtocol.Tcp));
        var mapping = NatPmpClient.ParseMapping(Convert.FromHexString("0082000000000064" + "0fa10fa2" + "00000078"), MappingProtocol.Tcp);
        Assert.Equal((4001, 4002, TimeSpan.FromSeconds(120)), (mapping.InternalPort, mapping.ExternalPort, mapping.Lifetime));
    }

    [Fact]
    public void PcpMapAnswerMustCarryOurNonceAndProtocol()
    {
        byte[] nonce = Enumerable.Range(1, 12).Select(i => (byte)i).ToArray();
        byte[] request = PcpClient.BuildMap(IPAddress.Parse("192.168.1.2"), nonce, MappingProtocol.Tcp, 4001, 4001, TimeSpan.FromSeconds(600));
        Assert.Equal(60, request.Length);
        byte[] answer = (byte[])request.Clone();
        answer[1] = 0x81; // response bit
        answer[3] = 0;    // SUCCESS
        IPAddress.Parse("11.0.1.1").MapToIPv6().TryWriteBytes(answer.AsSpan(44, 16), out _);
        var mapping = PcpClient.ParseMap(answer, nonce, MappingProtocol.Tcp);
        Assert.Equal(IPAddress.Parse("11.0.1.1"), mapping.ExternalAddress);
        Assert.Equal(4001, mapping.ExternalPort);
        Assert.Throws<PortMappingFormatException>(() => PcpClient.ParseMap(answer, new byte[12], MappingProtocol.Tcp));
        Assert.Throws<PortMappingFormatException>(() => PcpClient.ParseMap(answer, nonce, MappingProtocol.Udp));
        answer[3] = 8;
        Assert.Equal(8, Assert.Throws<PortMappingRefusedException>(() => PcpClient.ParseMap(answer, nonce, MappingProtocol.Tcp)).Code);
        // A NAT-PMP-only gateway answers a PCP request with version 0: typed as UNSUPP_VERSION, so the mapper moves on.
        Assert.Equal(1, Assert.Throws<PortMappingRefusedException>(() => PcpClient.ParseMap(Convert.FromHexString("0081000100000000"), nonce, MappingProtocol.Tcp)).Code);
    }

    [Fact]
    public void RandomGatewayAnswersFailOnlyWithTypedErrors()
    {
        byte[] nonce = new byte[12];
        Prop.ForAll<byte[]>(bytes =>
            Record.Exception(() => PcpClient.ParseMap(bytes, nonce, MappingProtocol.Tcp)) is null or PortMappingFormatException or PortMappingRefusedException
            && Record.Exception(() => NatPmpClient.ParseMapping(bytes, MappingProtocol.Tcp)) is null or PortMappingFormatException or PortMappingRefusedException)
            .QuickCheckThrowOnFailure();
    }
}
