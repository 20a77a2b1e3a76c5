using System.Net;
using System.Net.Sockets;

namespace P2PStack.Nat.PortMapping.Tests;

/// <summary>
/// A LAN device on a random 127/8 address that answers every SSDP M-SEARCH (unicast, on port 1900 of its address)
/// with the datagram <see cref="FakeSsdpResponder(Func{FakeSsdpResponder, string}, string)"/>'s answer makes, and
/// serves one device description over HTTP on the same address (<see cref="Location"/>), whatever is asked (or resets
/// that connection, <see cref="ResetDescriptionFetch"/>). Other devices of the same test LAN can answer the searches it
/// receives (<see cref="AlsoAnswering"/>), as every device in the multicast group would.
/// </summary>
public sealed class FakeSsdpResponder : FakeLanDevice
{
    private readonly Func<FakeSsdpResponder, string> _answer;
    private readonly string _description;

    public FakeSsdpResponder(Func<FakeSsdpResponder, string> answer, string description)
    {
        _answer = answer;
        _description = description;
        StartServing();
    }

    /// <summary>Reads the description request, then resets the connection (RST) without answering: a device that
    /// reboots or whose web server crashes.</summary>
    public bool ResetDescriptionFetch { get; init; }

    /// <summary>Another device of the LAN that hears the same searches: called with the searcher's end point on every
    /// M-SEARCH this responder receives, so it answers too (from its own address).</summary>
    public Func<EndPoint, Task>? AlsoAnswering { get; init; }

    /// <summary>The device description this responder serves.</summary>
    public Uri Location => HttpUrl("/description.xml");

    protected override async Task OnSearchAsync(EndPoint searcher)
    {
        await SendSsdpAsync(_answer(this), searcher);
        if (AlsoAnswering is { } other) await other(searcher);
    }

    protected override async Task ServeConnectionAsync(Socket client)
    {
        using var _ = client;
        try
        {
            byte[] buffer = new byte[4096];
            var head = new System.Text.StringBuilder();
            while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                int n = await client.ReceiveAsync(buffer, Stopping);
                if (n == 0) break;
                head.Append(System.Text.Encoding.ASCII.GetString(buffer, 0, n));
            }
            if (ResetDescriptionFetch)
            {
                client.LingerState = new LingerOption(true, 0); // close with RST
                client.Close();
                return;
            }
            byte[] body = System.Text.Encoding.UTF8.GetBytes(_description);
            await client.SendAsync(System.Text.Encoding.ASCII.GetBytes(
                $"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n"), Stopping);
            await client.SendAsync(body, Stopping);
            client.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException or IOException)
        {
            // the client went away, or this device was disposed
        }
    }
}
