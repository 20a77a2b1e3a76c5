using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security;
using System.Text;
using System.Xml;
using System.Xml.Linq;

namespace P2PStack.Nat.PortMapping;

/// <summary>A transport protocol a mapping is for.</summary>
public enum MappingProtocol
{
    Tcp,
    Udp,
}

/// <summary>
/// A UPnP Internet Gateway Device's WAN connection service (WANIPConnection:1/2 or WANPPPConnection:1), driven
/// with SOAP: GetExternalIPAddress, AddPortMapping, DeletePortMapping. Errors the device returns (SOAP faults with
/// a UPnPError) surface as <see cref="PortMappingRefusedException"/> with the UPnP error code.
/// </summary>
public sealed class UpnpGateway
{
    private static readonly string[] ServiceTypes =
    [
        "urn:schemas-upnp-org:service:WANIPConnection:2",
        "urn:schemas-upnp-org:service:WANIPConnection:1",
        "urn:schemas-upnp-org:service:WANPPPConnection:1",
    ];

    private readonly HttpClient _http;
    private readonly PortMappingOptions _options;

    private UpnpGateway(HttpClient http, PortMappingOptions options, Uri location, IPAddress address, Uri controlUrl, string serviceType,
        string? friendlyName)
    {
        _http = http;
        _options = options;
        Location = location;
        Address = address;
        ControlUrl = controlUrl;
        ServiceType = serviceType;
        FriendlyName = friendlyName;
    }

    /// <summary>The device description's URL (from SSDP).</summary>
    public Uri Location { get; }

    /// <summary>The device's IPv4 address: the host of <see cref="Location"/> and of <see cref="ControlUrl"/>.</summary>
    public IPAddress Address { get; }

    /// <summary>The SOAP control URL of the WAN connection service.</summary>
    public Uri ControlUrl { get; }

    public string ServiceType { get; }

    public string? FriendlyName { get; }

    /// <summary>Fetches the device description at <paramref name="location"/> and finds its WAN connection service.</summary>
    /// <exception cref="PortMappingFormatException">The location's host is not an IPv4 address, or the description is
    /// malformed, too large, or has no WAN connection.</exception>
    public static async Task<UpnpGateway> FromLocationAsync(HttpClient http, PortMappingOptions options, Uri location,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(location);
        var address = DeviceAddress(location);
        string xml = await GetBoundedAsync(http, options, new HttpRequestMessage(HttpMethod.Get, location), cancellationToken).ConfigureAwait(false);
        var (controlUrl, type, friendly) = ParseDescription(xml, location, options);
        return new UpnpGateway(http, options, location, address, controlUrl, type, friendly);
    }

    /// <summary>
    /// The device's address from its location. A WANIPConnection maps IPv4 ports to a client on the gateway's LAN, whose
    /// address is the local one routed towards the device; a host name or an IPv6 address gives neither (SSDP answers
    /// with either are refused already, <see cref="Ssdp.Parse"/>: this keeps the gateway's own invariant).
    /// </summary>
    /// <exception cref="PortMappingFormatException">The host is not an IPv4 literal.</exception>
    internal static IPAddress DeviceAddress(Uri location)
    {
        if (location.HostNameType != UriHostNameType.IPv4 || !IPAddress.TryParse(location.Host, out var address))
            throw new PortMappingFormatException($"the device location {location} is not on an IPv4 address (a host name or IPv6 address cannot take an IPv4 port mapping)");
        return address;
    }

    /// <summary>Finds the WAN connection service's control URL in a device description fetched from <paramref name="location"/>.</summary>
    /// <exception cref="PortMappingFormatException">Malformed, too large, no WAN connection, or a control URL elsewhere.</exception>
    internal static (Uri ControlUrl, string ServiceType, string? FriendlyName) ParseDescription(string xml, Uri location, PortMappingOptions options)
    {
        // Every failure names the location: the discovery that lists the devices it skipped names each device once.
        var document = ParseXml(xml, options, $"the device description at {location}");
        XNamespace device = "urn:schemas-upnp-org:device-1-0";
        var root = document.Root ?? throw new PortMappingFormatException($"the device description at {location} is empty");
        Uri baseUri = location;
        if (root.Element(device + "URLBase")?.Value is { Length: > 0 } urlBase && Uri.TryCreate(urlBase, UriKind.Absolute, out var parsedBase))
            baseUri = parsedBase;
        string? friendly = root.Element(device + "device")?.Element(device + "friendlyName")?.Value;
        foreach (string type in ServiceTypes)
        {
            var service = root.Descendants(device + "service").FirstOrDefault(s => s.Element(device + "serviceType")?.Value.Trim() == type);
            if (service?.Element(device + "controlURL")?.Value.Trim() is not { Length: > 0 } control) continue;
            if (!Uri.TryCreate(baseUri, control, out var controlUrl) || controlUrl.Scheme != Uri.UriSchemeHttp)
                throw new PortMappingFormatException($"the control URL '{control}' of the device at {location} is not http");
            if (controlUrl.Host != location.Host)
                throw new PortMappingFormatException($"the control URL {controlUrl} is on another host than the device at {location}");
            return (controlUrl, type, friendly);
        }
        throw new PortMappingFormatException($"the device at {location} offers no WANIPConnection or WANPPPConnection service");
    }

    /// <summary>GetExternalIPAddress.</summary>
    public async Task<IPAddress> GetExternalAddressAsync(CancellationToken cancellationToken)
    {
        var answer = await InvokeAsync("GetExternalIPAddress", [], cancellationToken).ConfigureAwait(false);
        return ParseExternalAddress(answer);
    }

    /// <summary>The out argument of GetExternalIPAddress.</summary>
    internal static IPAddress ParseExternalAddress(Dictionary<string, string> answer)
    {
        string text = answer.GetValueOrDefault("NewExternalIPAddress") ?? "";
        if (text.Length == 0)
        {
            // miniupnpd answers so when its own WAN address is private ("not suitable for external IP").
            throw new PortMappingRefusedException("UPnP", 0, "GetExternalIPAddress gave no external address (the gateway has no public one)");
        }
        if (!IPAddress.TryParse(text, out var address))
            throw new PortMappingFormatException($"GetExternalIPAddress answered '{text}', not an address");
        return address;
    }

    /// <summary>AddPortMapping from the external port to <paramref name="internalClient"/>:<paramref name="internalPort"/>.</summary>
    public Task AddPortMappingAsync(MappingProtocol protocol, int externalPort, IPAddress internalClient, int internalPort, TimeSpan lease,
        CancellationToken cancellationToken) =>
        InvokeAsync("AddPortMapping",
        [
            ("NewRemoteHost", ""),
            ("NewExternalPort", externalPort.ToString(CultureInfo.InvariantCulture)),
            ("NewProtocol", Name(protocol)),
            ("NewInternalPort", internalPort.ToString(CultureInfo.InvariantCulture)),
            ("NewInternalClient", internalClient.ToString()),
            ("NewEnabled", "1"),
            ("NewPortMappingDescription", _options.Description),
            ("NewLeaseDuration", ((long)lease.TotalSeconds).ToString(CultureInfo.InvariantCulture)),
        ], cancellationToken);

    /// <summary>DeletePortMapping.</summary>
    public Task DeletePortMappingAsync(MappingProtocol protocol, int externalPort, CancellationToken cancellationToken) =>
        InvokeAsync("DeletePortMapping",
        [
            ("NewRemoteHost", ""),
            ("NewExternalPort", externalPort.ToString(CultureInfo.InvariantCulture)),
            ("NewProtocol", Name(protocol)),
        ], cancellationToken);

    /// <summary>GetSpecificPortMappingEntry: the internal client and lease of a mapping, or a refusal with 714
    /// (NoSuchEntryInArray) when there is none.</summary>
    public async Task<(IPAddress InternalClient, int InternalPort, TimeSpan Lease)> GetSpecificPortMappingAsync(MappingProtocol protocol,
        int externalPort, CancellationToken cancellationToken)
    {
        var answer = await InvokeAsync("GetSpecificPortMappingEntry",
        [
            ("NewRemoteHost", ""),
            ("NewExternalPort", externalPort.ToString(CultureInfo.InvariantCulture)),
            ("NewProtocol", Name(protocol)),
        ], cancellationToken).ConfigureAwait(false);
        return ParseSpecificPortMapping(answer);
    }

    /// <summary>The out arguments of GetSpecificPortMappingEntry: the port a ui2, the lease a ui4 in seconds (IGD 2.0),
    /// both unsigned decimal (a sign, a negative or an out-of-range value is refused, not wrapped or overflowed).</summary>
    internal static (IPAddress InternalClient, int InternalPort, TimeSpan Lease) ParseSpecificPortMapping(Dictionary<string, string> answer)
    {
        if (!IPAddress.TryParse(answer.GetValueOrDefault("NewInternalClient"), out var client)
            || !ushort.TryParse(answer.GetValueOrDefault("NewInternalPort"), NumberStyles.None, CultureInfo.InvariantCulture, out ushort port)
            || !uint.TryParse(answer.GetValueOrDefault("NewLeaseDuration") ?? "0", NumberStyles.None, CultureInfo.InvariantCulture, out uint lease))
        {
            throw new PortMappingFormatException("GetSpecificPortMappingEntry answered without a valid client, port or lease");
        }
        return (client, port, TimeSpan.FromSeconds(lease));
    }

    private static string Name(MappingProtocol protocol) => protocol == MappingProtocol.Tcp ? "TCP" : "UDP";

    /// <summary>Sends one SOAP action; returns the out arguments.</summary>
    internal async Task<Dictionary<string, string>> InvokeAsync(string action, IReadOnlyList<(string Name, string Value)> arguments,
        CancellationToken cancellationToken)
    {
        var body = new StringBuilder();
        body.Append("<?xml version=\"1.0\"?>\r\n")
            .Append("<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\">")
            .Append("<s:Body><u:").Append(action).Append(" xmlns:u=\"").Append(ServiceType).Append("\">");
        foreach (var (name, value) in arguments)
            body.Append('<').Append(name).Append('>').Append(SecurityElement.Escape(value)).Append("</").Append(name).Append('>');
        body.Append("</u:").Append(action).Append("></s:Body></s:Envelope>\r\n");
        var request = new HttpRequestMessage(HttpMethod.Post, ControlUrl)
        {
            Content = new StringContent(body.ToString(), System.Text.Encoding.UTF8),
        };
        request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse("text/xml; charset=\"utf-8\"");
        request.Headers.TryAddWithoutValidation("SOAPAction", $"\"{ServiceType}#{action}\"");
        string xml = await GetBoundedAsync(_http, _options, request, cancellationToken, acceptServerError: true).ConfigureAwait(false);
        return ParseSoapAnswer(xml, action, _options);
    }

    /// <summary>Reads a SOAP answer: the out arguments of <c>{action}Response</c>, or the UPnPError of a fault.</summary>
    internal static Dictionary<string, string> ParseSoapAnswer(string xml, string action, PortMappingOptions options)
    {
        var document = ParseXml(xml, options, $"the {action} answer");
        XNamespace soap = "http://schemas.xmlsoap.org/soap/envelope/";
        var body = document.Root?.Element(soap + "Body") ?? throw new PortMappingFormatException($"{action}: the answer has no SOAP body");
        var fault = body.Element(soap + "Fault");
        if (fault is not null)
        {
            var error = fault.Descendants().FirstOrDefault(e => e.Name.LocalName == "UPnPError");
            string? codeText = error?.Elements().FirstOrDefault(e => e.Name.LocalName == "errorCode")?.Value;
            string description = error?.Elements().FirstOrDefault(e => e.Name.LocalName == "errorDescription")?.Value
                ?? fault.Element("faultstring")?.Value ?? "SOAP fault";
            int code = int.TryParse(codeText, CultureInfo.InvariantCulture, out int c) ? c : 0;
            throw new PortMappingRefusedException("UPnP", code, description.Trim());
        }
        var response = body.Elements().FirstOrDefault(e => e.Name.LocalName == action + "Response")
            ?? throw new PortMappingFormatException($"{action}: the answer has no {action}Response");
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var element in response.Elements().Take(64)) result[element.Name.LocalName] = element.Value.Trim();
        return result;
    }

    /// <param name="what">What the XML is, for the error ("the device description at ...", "the AddPortMapping answer").</param>
    private static XDocument ParseXml(string xml, PortMappingOptions options, string what)
    {
        var settings = new XmlReaderSettings
        {
            DtdProcessing = DtdProcessing.Prohibit,
            XmlResolver = null,
            MaxCharactersInDocument = options.MaxHttpResponseBytes,
        };
        try
        {
            using var reader = XmlReader.Create(new StringReader(xml), settings);
            return XDocument.Load(reader);
        }
        catch (XmlException ex)
        {
            throw new PortMappingFormatException($"{what} is not valid XML: {ex.Message}", ex);
        }
    }

    /// <summary>One HTTP exchange with the size and time limits of the options.</summary>
    private static async Task<string> GetBoundedAsync(HttpClient http, PortMappingOptions options, HttpRequestMessage request,
        CancellationToken cancellationToken, bool acceptServerError = false)
    {
        using (request)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.HttpTimeout);
            try
            {
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
                bool fault = acceptServerError && response.StatusCode == HttpStatusCode.InternalServerError; // SOAP faults come as 500
                if (!response.IsSuccessStatusCode && !fault)
                    throw PortMappingRefusedException.HttpStatus((int)response.StatusCode, request.RequestUri);
                if (response.Content.Headers.ContentLength > options.MaxHttpResponseBytes)
                    throw new PortMappingFormatException($"{request.RequestUri} announces {response.Content.Headers.ContentLength} bytes, over {options.MaxHttpResponseBytes}");
                await using var stream = await response.Content.ReadAsStreamAsync(timeout.Token).ConfigureAwait(false);
                byte[] buffer = new byte[options.MaxHttpResponseBytes + 1];
                int total = 0;
                while (total < buffer.Length)
                {
                    int n = await stream.ReadAsync(buffer.AsMemory(total), timeout.Token).ConfigureAwait(false);
                    if (n == 0) break;
                    total += n;
                }
                if (total > options.MaxHttpResponseBytes)
                    throw new PortMappingFormatException($"{request.RequestUri} sent more than {options.MaxHttpResponseBytes} bytes");
                return System.Text.Encoding.UTF8.GetString(buffer, 0, total);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new GatewayNotFoundException("UPnP", $"{request.RequestUri} did not answer within {options.HttpTimeout}");
            }
            catch (HttpRequestException ex) when (ex.HttpRequestError == HttpRequestError.InvalidResponse)
            {
                throw new PortMappingFormatException($"{request.RequestUri} did not answer HTTP: {ex.Message}", ex);
            }
            catch (HttpRequestException ex) when (ex.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError)
            {
                throw new GatewayNotFoundException("UPnP", $"{request.RequestUri}: {ex.Message}");
            }
            catch (HttpRequestException ex)
            {
                throw new GatewayConnectionException("UPnP", $"{request.RequestUri}: {Reason(ex)}", ex);
            }
            catch (HttpIOException ex) when (ex.HttpRequestError == HttpRequestError.InvalidResponse)
            {
                throw new PortMappingFormatException($"{request.RequestUri} sent a malformed HTTP body: {ex.Message}", ex);
            }
            catch (IOException ex) when (ex is not (PortMappingRefusedException or GatewayNotFoundException))
            {
                // the body broke off: a reset or a close before Content-Length (HttpIOException), or the socket under it
                throw new GatewayConnectionException("UPnP", $"{request.RequestUri}: {Reason(ex)}", ex);
            }
        }
    }

    /// <summary>An exchange's failure with its cause: HttpClient's own message ("An error occurred while sending the
    /// request") says nothing of what happened (a reset, a close) unless the innermost one is added.</summary>
    private static string Reason(Exception ex)
    {
        string cause = ex.GetBaseException().Message;
        return cause == ex.Message ? ex.Message : $"{ex.Message} ({cause})";
    }
}
