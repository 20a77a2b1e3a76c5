using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace P2PStack.Nat.PortMapping.Tests;

/// <summary>
/// A LAN device on a random 127/8 address that answers every SSDP M-SEARCH (unicast, on port 1900 of its address)
/// with the datagram <see cref="FakeSsdpResponder(Func{FakeSsdpResponder, string}, string)"/>'s answer makes, and
/// serves one device description over HTTP on the same address (<see cref="Location"/>), whatever is asked (or resets
/// that connection, <see cref="ResetDescriptionFetch"/>). Other devices of the same test LAN can answer the searches it
/// receives (<see cref="AlsoAnswering"/>), as every device in the multicast group would.
/// </summary>
public sealed class FakeSsdpResponder : IDisposable
{
    private readonly Socket _ssdp = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly TcpListener _http;
    private readonly CancellationTokenSource _stop = new();
    private readonly Func<FakeSsdpResponder, string> _answer;
    private readonly string _description;
    private readonly Task _ssdpLoop;
    private readonly Task _httpLoop;

    public FakeSsdpResponder(Func<FakeSsdpResponder, string> answer, string description)
    {
        _answer = answer;
        _description = description;
        Address = new IPAddress([127, (byte)RandomNumberGenerator.GetInt32(1, 255), (byte)RandomNumberGenerator.GetInt32(1, 255),
            (byte)RandomNumberGenerator.GetInt32(2, 255)]);
        _ssdp.Bind(new IPEndPoint(Address, 1900));
        _http = new TcpListener(Address, 0);
        _http.Start();
        _ssdpLoop = Task.Run(ServeSsdpAsync);
        _httpLoop = Task.Run(ServeHttpAsync);
    }

    public IPAddress Address { get; }

    /// <summary>Where SSDP searches go (<c>PortMappingOptions.SsdpEndPoint</c>).</summary>
    public IPEndPoint SsdpEndPoint => new(Address, 1900);

    /// <summary>Reads the description request, then resets the connection (RST) without answering: a device that
    /// reboots or whose web server crashes.</summary>
    public bool ResetDescriptionFetch { get; init; }

    /// <summary>Another device of the LAN that hears the same searches: called with the searcher's end point on every
    /// M-SEARCH this responder receives, so it answers too (from its own address).</summary>
    public Func<EndPoint, Task>? AlsoAnswering { get; init; }

    /// <summary>The device description this responder serves.</summary>
    public Uri Location => new($"http://{Address}:{((IPEndPoint)_http.LocalEndpoint).Port}/description.xml");

    private async Task ServeSsdpAsync()
    {
        byte[] buffer = new byte[2048];
        while (true)
        {
            try
            {
                var received = await _ssdp.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), _stop.Token);
                if (!System.Text.Encoding.ASCII.GetString(buffer, 0, received.ReceivedBytes).StartsWith("M-SEARCH", StringComparison.Ordinal)) continue;
                await _ssdp.SendToAsync(System.Text.Encoding.ASCII.GetBytes(_answer(this)), SocketFlags.None, received.RemoteEndPoint);
                if (AlsoAnswering is { } other) await other(received.RemoteEndPoint);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
        }
    }

    private async Task ServeHttpAsync()
    {
        while (true)
        {
            try
            {
                using var client = await _http.AcceptSocketAsync(_stop.Token);
                byte[] buffer = new byte[4096];
                var head = new System.Text.StringBuilder();
                while (!head.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
                {
                    int n = await client.ReceiveAsync(buffer, _stop.Token);
                    if (n == 0) break;
                    head.Append(System.Text.Encoding.ASCII.GetString(buffer, 0, n));
                }
                if (ResetDescriptionFetch)
                {
                    client.LingerState = new LingerOption(true, 0); // close with RST
                    client.Close();
                    continue;
                }
                byte[] body = System.Text.Encoding.UTF8.GetBytes(_description);
                await client.SendAsync(System.Text.Encoding.ASCII.GetBytes(
                    $"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n"), _stop.Token);
                await client.SendAsync(body, _stop.Token);
                client.Shutdown(SocketShutdown.Send);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (Exception ex) when (ex is SocketException or IOException)
            {
                // that client went away; serve the next
            }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _ssdp.Dispose();
        _http.Stop();
        Task.WaitAll([_ssdpLoop, _httpLoop], TimeSpan.FromSeconds(10));
        _stop.Dispose();
    }
}
