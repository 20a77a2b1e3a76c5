using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace P2PStack.Nat.PortMapping.Tests;

/// <summary>How a <see cref="FakeUpnpGateway"/> answers AddPortMapping.</summary>
public enum UpnpMisbehaviour
{
    /// <summary>A proper AddPortMappingResponse.</summary>
    None,

    /// <summary>Reads the request, then resets the connection (RST) without answering.</summary>
    Reset,

    /// <summary>Sends the status line, headers and part of the announced body, then resets the connection.</summary>
    ResetInBody,

    /// <summary>Answers bytes that are not HTTP.</summary>
    Garbage,

    /// <summary>Reads the request and never answers.</summary>
    Silent,
}

/// <summary>
/// A UPnP Internet Gateway Device on a random 127/8 address: answers SSDP M-SEARCH (unicast, on port 1900 of its
/// address), serves a device description with a WANIPConnection:1 service, and answers the SOAP actions
/// GetExternalIPAddress, AddPortMapping (or misbehaves as <see cref="AddPortMapping"/> says) and DeletePortMapping,
/// one request per connection. Speaks the wire format to the real client, so the client's HTTP error paths run.
/// </summary>
public sealed class FakeUpnpGateway : FakeLanDevice
{
    private const string ServiceType = "urn:schemas-upnp-org:service:WANIPConnection:1";
    private readonly ConcurrentQueue<string> _actions = new();
    private readonly ConcurrentBag<Socket> _held = [];

    public FakeUpnpGateway(IPAddress external)
    {
        External = external;
        StartServing();
    }

    public IPAddress External { get; }

    public Uri Location => HttpUrl("/rootDesc.xml");

    public UpnpMisbehaviour AddPortMapping { get; set; }

    /// <summary>The SOAP actions received, in order (also those answered with a misbehaviour).</summary>
    public IReadOnlyList<string> Actions => [.. _actions];

    protected override Task OnSearchAsync(EndPoint searcher) => AnswerSearchAsync(searcher);

    /// <summary>Sends this gateway's SSDP answer to a searcher (as when the search reached it through the multicast group).</summary>
    public Task AnswerSearchAsync(EndPoint searcher) =>
        SendSsdpAsync("HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n"
            + $"USN: uuid:fake-igd::urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nLOCATION: {Location}\r\nSERVER: fake/1\r\n\r\n", searcher);

    protected override async Task ServeConnectionAsync(Socket client)
    {
        bool keep = false;
        try
        {
            var (head, body) = await ReadRequestAsync(client);
            string firstLine = head.Split("\r\n")[0];
            if (firstLine.StartsWith("GET ", StringComparison.Ordinal))
            {
                await AnswerAsync(client, "200 OK", Description());
                return;
            }
            string action = head.Split("\r\n").Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("SOAPAction:", StringComparison.OrdinalIgnoreCase))
                ?.Split('#').LastOrDefault()?.Trim('"', ' ') ?? "";
            _actions.Enqueue(action);
            switch (action)
            {
                case "GetExternalIPAddress":
                    await AnswerAsync(client, "200 OK", Soap(action, $"<NewExternalIPAddress>{External}</NewExternalIPAddress>"));
                    break;
                case "AddPortMapping":
                    keep = await MisbehaveAsync(client, action);
                    break;
                default:
                    await AnswerAsync(client, "200 OK", Soap(action, ""));
                    break;
            }
            _ = body;
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException)
        {
            // the client went away
        }
        finally
        {
            if (keep) _held.Add(client);
            else client.Dispose();
        }
    }

    /// <summary>Answers AddPortMapping as <see cref="AddPortMapping"/> says; returns whether to keep the socket open.</summary>
    private async Task<bool> MisbehaveAsync(Socket client, string action)
    {
        switch (AddPortMapping)
        {
            case UpnpMisbehaviour.Reset:
                Reset(client);
                return false;
            case UpnpMisbehaviour.ResetInBody:
                string body = Soap(action, "");
                string head = $"HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=\"utf-8\"\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n";
                await client.SendAsync(System.Text.Encoding.UTF8.GetBytes(head + body[..(body.Length / 2)]));
                await Task.Delay(100); // the client has the headers and is reading the body
                Reset(client);
                return false;
            case UpnpMisbehaviour.Garbage:
                await client.SendAsync(System.Text.Encoding.ASCII.GetBytes("\u0016\u0003\u0001 this is no HTTP answer at all\r\n\r\n"));
                client.Shutdown(SocketShutdown.Send);
                return false;
            case UpnpMisbehaviour.Silent:
                return true;
            default:
                await AnswerAsync(client, "200 OK", Soap(action, ""));
                return false;
        }
    }

    private static void Reset(Socket client)
    {
        client.LingerState = new LingerOption(true, 0); // close with RST
        client.Close();
    }

    private static async Task<(string Head, string Body)> ReadRequestAsync(Socket client)
    {
        var received = new List<byte>();
        byte[] buffer = new byte[4096];
        while (true)
        {
            int n = await client.ReceiveAsync(buffer);
            if (n == 0) throw new IOException("closed before a whole request");
            received.AddRange(buffer.AsSpan(0, n).ToArray());
            string text = System.Text.Encoding.UTF8.GetString(received.ToArray());
            int end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end < 0) continue;
            string head = text[..end];
            int length = head.Split("\r\n").Where(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                .Select(l => int.Parse(l["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
            if (received.Count - (end + 4) >= length) return (head, text[(end + 4)..]);
        }
    }

    private static async Task AnswerAsync(Socket client, string status, string body)
    {
        byte[] content = System.Text.Encoding.UTF8.GetBytes(body);
        string head = $"HTTP/1.1 {status}\r\nContent-Type: text/xml; charset=\"utf-8\"\r\nContent-Length: {content.Length}\r\nConnection: close\r\n\r\n";
        await client.SendAsync(System.Text.Encoding.ASCII.GetBytes(head));
        await client.SendAsync(content);
        client.Shutdown(SocketShutdown.Send);
    }

    private static string Soap(string action, string arguments) =>
        "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\" "
        + "s:encodingStyle=\"http://schemas.xmlsoap.org/soap/encoding/\"><s:Body>"
        + $"<u:{action}Response xmlns:u=\"{ServiceType}\">{arguments}</u:{action}Response></s:Body></s:Envelope>";

    private static string Description() =>
        "<?xml version=\"1.0\"?><root xmlns=\"urn:schemas-upnp-org:device-1-0\"><specVersion><major>1</major><minor>0</minor></specVersion>"
        + "<device><deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType><friendlyName>fake IGD</friendlyName>"
        + "<deviceList><device><deviceType>urn:schemas-upnp-org:device:WANDevice:1</deviceType><deviceList><device>"
        + "<deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:1</deviceType><serviceList><service>"
        + $"<serviceType>{ServiceType}</serviceType><serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>"
        + "<controlURL>/ctl/IPConn</controlURL><eventSubURL>/evt/IPConn</eventSubURL><SCPDURL>/WANIPCn.xml</SCPDURL>"
        + "</service></serviceList></device></deviceList></device></deviceList></device></root>";

    protected override void OnStopped()
    {
        foreach (var socket in _held) socket.Dispose();
    }
}
