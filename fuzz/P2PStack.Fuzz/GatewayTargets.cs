using System.Buffers.Binary;
using System.Net;
using P2PStack.Nat.PortMapping;

namespace P2PStack.Fuzz;

/// <summary>
/// The port-mapping clients' decoders: what a device on the LAN (anyone who can answer a multicast search or spoof
/// the gateway's address) sends back. SSDP answers, the IGD device description, SOAP answers, NAT-PMP and PCP.
/// </summary>
internal static class GatewayTargets
{
    private static readonly IPEndPoint Gateway = new(IPAddress.Parse("192.168.1.1"), 1900);
    private static readonly Uri Location = new("http://192.168.1.1:5000/rootDesc.xml");
    private static readonly byte[] PcpNonce = [.. Enumerable.Range(1, 12).Select(i => (byte)i)];

    private static class Fixed
    {
        public static readonly PortMappingOptions Options = new();
    }

    private static readonly string[] SoapActions = ["GetExternalIPAddress", "AddPortMapping", "DeletePortMapping", "GetSpecificPortMappingEntry"];

    // ---- SSDP ----

    /// <summary>An M-SEARCH answer, at most the size the search loop reads, from the gateway's address.</summary>
    public static void Ssdp(byte[] input)
    {
        if (input.Length > Fixed.Options.MaxSsdpResponseBytes) return; // the search loop drops it unread
        var response = Nat.PortMapping.Ssdp.Parse(input, Gateway);
        if (!response.Location.Host.Equals(Gateway.Address.ToString(), StringComparison.Ordinal))
            throw new InvalidOperationException($"LOCATION {response.Location} accepted from {Gateway}");
    }

    public static IEnumerable<byte[]> SsdpSeeds() =>
    [
        System.Text.Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n" +
            "USN: uuid:fc4ec57e-b051-11db-88f8-0060085db3f6::urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nEXT:\r\n" +
            "SERVER: Debian/12 UPnP/1.1 MiniUPnPd/2.3.1\r\nLOCATION: http://192.168.1.1:5000/rootDesc.xml\r\n\r\n"),
        System.Text.Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nLocation: http://192.168.1.1/igd.xml\r\nst: urn:schemas-upnp-org:service:WANIPConnection:2\r\n\r\n"),
        System.Text.Encoding.ASCII.GetBytes("HTTP/1.1 200 OK\r\nLOCATION: http://10.0.0.1:80/desc.xml\r\n\r\n"), // elsewhere: refused
    ];

    // ---- IGD device description ----

    /// <summary>The device description at an SSDP LOCATION (UTF-8, at most the HTTP response limit): the WAN
    /// connection service's control URL, which must stay on the device's host.</summary>
    public static void UpnpDescription(byte[] input)
    {
        if (input.Length > Fixed.Options.MaxHttpResponseBytes) return; // GetBoundedAsync refuses it before parsing
        var (control, _, _) = UpnpGateway.ParseDescription(System.Text.Encoding.UTF8.GetString(input), Location, Fixed.Options);
        if (control.Host != Location.Host || control.Scheme != Uri.UriSchemeHttp)
            throw new InvalidOperationException($"control URL {control} accepted for a device at {Location}");
    }

    public static IEnumerable<byte[]> UpnpDescriptionSeeds() =>
    [
        System.Text.Encoding.UTF8.GetBytes(Description("urn:schemas-upnp-org:service:WANIPConnection:1", "/ctl/IPConn", urlBase: null)),
        System.Text.Encoding.UTF8.GetBytes(Description("urn:schemas-upnp-org:service:WANIPConnection:2", "ctl/IPConn", "http://192.168.1.1:5000/")),
        System.Text.Encoding.UTF8.GetBytes(Description("urn:schemas-upnp-org:service:WANPPPConnection:1", "http://192.168.1.1:5000/ctl/PPP", urlBase: null)),
    ];

    private static string Description(string serviceType, string controlUrl, string? urlBase) =>
        "<?xml version=\"1.0\"?>\r\n<root xmlns=\"urn:schemas-upnp-org:device-1-0\"><specVersion><major>1</major><minor>1</minor></specVersion>" +
        (urlBase is null ? "" : $"<URLBase>{urlBase}</URLBase>") +
        "<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType><friendlyName>router</friendlyName>" +
        "<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType><deviceList><device>" +
        "<deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType><serviceList><service>" +
        $"<serviceType>{serviceType}</serviceType><serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>" +
        $"<controlURL>{controlUrl}</controlURL><eventSubURL>/evt/IPConn</eventSubURL><SCPDURL>/WANIPCnSCPD.xml</SCPDURL>" +
        "</service></serviceList></device></deviceList></device></deviceList></device></root>";

    // ---- SOAP answers ----

    /// <summary>A SOAP answer (first byte: which action was sent) and what the client reads from it: a UPnPError
    /// fault becomes <see cref="PortMappingRefusedException"/>; the external address, or a mapping's client, port and
    /// lease.</summary>
    public static void UpnpSoap(byte[] input)
    {
        if (input.Length < 1 || input.Length - 1 > Fixed.Options.MaxHttpResponseBytes) return;
        string action = SoapActions[input[0] % SoapActions.Length];
        var answer = UpnpGateway.ParseSoapAnswer(System.Text.Encoding.UTF8.GetString(input, 1, input.Length - 1), action, Fixed.Options);
        switch (action)
        {
            case "GetExternalIPAddress":
                UpnpGateway.ParseExternalAddress(answer);
                break;
            case "GetSpecificPortMappingEntry":
                var (_, port, lease) = UpnpGateway.ParseSpecificPortMapping(answer);
                if (port is < 0 or > 65535 || lease < TimeSpan.Zero)
                    throw new InvalidOperationException($"mapping entry with port {port} and lease {lease} accepted");
                break;
        }
    }

    public static IEnumerable<byte[]> UpnpSoapSeeds() =>
    [
        Soap(0, "<NewExternalIPAddress>203.0.113.7</NewExternalIPAddress>"),
        Soap(1, ""),
        Soap(2, ""),
        Soap(3, "<NewInternalPort>4001</NewInternalPort><NewInternalClient>192.168.1.20</NewInternalClient><NewEnabled>1</NewEnabled>" +
            "<NewPortMappingDescription>P2PStack</NewPortMappingDescription><NewLeaseDuration>3600</NewLeaseDuration>"),
        [1, .. System.Text.Encoding.UTF8.GetBytes(
            "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Body><s:Fault>" +
            "<faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail><UPnPError xmlns=\"urn:schemas-upnp-org:control-1-0\">" +
            "<errorCode>718</errorCode><errorDescription>ConflictInMappingEntry</errorDescription></UPnPError></detail></s:Fault></s:Body></s:Envelope>")],
    ];

    private static byte[] Soap(byte action, string arguments) =>
    [
        action, .. System.Text.Encoding.UTF8.GetBytes(
            "<?xml version=\"1.0\"?>\r\n<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" " +
            "s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>" +
            $"<u:{SoapActions[action]}Response xmlns:u=\"urn:schemas-upnp-org:service:WANIPConnection:1\">{arguments}" +
            $"</u:{SoapActions[action]}Response></s:Body></s:Envelope>\r\n"),
    ];

    // ---- NAT-PMP ----

    /// <summary>A NAT-PMP answer (first byte: to which request: external address, UDP or TCP mapping).</summary>
    public static void NatPmp(byte[] input)
    {
        if (input.Length < 1) return;
        var answer = input.AsSpan(1);
        switch (input[0] % 3)
        {
            case 0:
                NatPmpClient.ParseExternalAddress(answer);
                break;
            default:
                var mapping = NatPmpClient.ParseMapping(answer, input[0] % 3 == 1 ? MappingProtocol.Udp : MappingProtocol.Tcp);
                if (mapping.ExternalPort is < 0 or > 65535 || mapping.Lifetime < TimeSpan.Zero)
                    throw new InvalidOperationException($"mapping {mapping} accepted");
                break;
        }
    }

    public static IEnumerable<byte[]> NatPmpSeeds()
    {
        byte[] external = new byte[13];
        external[2] = 128;
        BinaryPrimitives.WriteUInt32BigEndian(external.AsSpan(5), 1234);
        IPAddress.Parse("203.0.113.7").GetAddressBytes().CopyTo(external, 9);
        yield return external;
        foreach (byte opcode in new byte[] { 1, 2 })
        {
            byte[] mapping = new byte[17];
            mapping[0] = opcode;
            mapping[2] = (byte)(128 + opcode);
            BinaryPrimitives.WriteUInt32BigEndian(mapping.AsSpan(5), 1234);
            BinaryPrimitives.WriteUInt16BigEndian(mapping.AsSpan(9), 4001);
            BinaryPrimitives.WriteUInt16BigEndian(mapping.AsSpan(11), 40001);
            BinaryPrimitives.WriteUInt32BigEndian(mapping.AsSpan(13), 3600);
            yield return mapping;
        }
        yield return [1, 0, 129, 0, 3]; // a refusal: Network Failure
    }

    // ---- PCP ----

    /// <summary>A PCP MAP answer (first byte: whether TCP or UDP was asked) to a request with a fixed nonce.</summary>
    public static void Pcp(byte[] input)
    {
        if (input.Length < 1) return;
        var protocol = (input[0] & 1) == 0 ? MappingProtocol.Tcp : MappingProtocol.Udp;
        var mapping = PcpClient.ParseMap(input.AsSpan(1), PcpNonce, protocol);
        if (mapping.ExternalPort is < 0 or > 65535 || mapping.Lifetime < TimeSpan.Zero || !mapping.Nonce.Span.SequenceEqual(PcpNonce))
            throw new InvalidOperationException($"mapping {mapping} accepted");
    }

    public static IEnumerable<byte[]> PcpSeeds()
    {
        foreach (var protocol in new[] { MappingProtocol.Tcp, MappingProtocol.Udp })
        {
            byte[] answer = PcpClient.BuildMap(IPAddress.Parse("192.168.1.20"), PcpNonce, protocol, 4001, 40001, TimeSpan.FromHours(1));
            answer[1] |= 0x80; // the R bit: an answer
            BinaryPrimitives.WriteUInt32BigEndian(answer.AsSpan(8), 1234); // epoch (the request's client address field)
            IPAddress.Parse("203.0.113.7").MapToIPv6().TryWriteBytes(answer.AsSpan(44, 16), out _);
            yield return [(byte)(protocol == MappingProtocol.Tcp ? 0 : 1), .. answer];
        }
        yield return [0, 2, 0x81, 0, 8, .. new byte[20]]; // NO_RESOURCES
        yield return [0, 0, 129, 0, 0]; // a NAT-PMP-only gateway
    }
}
