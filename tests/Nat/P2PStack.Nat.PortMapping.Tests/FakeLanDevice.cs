using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace P2PStack.Nat.PortMapping.Tests;

/// <summary>
/// A device of the test LAN on a random 127/8 address: it hears SSDP M-SEARCHes (unicast, on port 1900 of its address)
/// and serves HTTP on a free port of the same address, one connection at a time each on its own task, until disposed.
/// Subclasses say how they answer a search and a connection, and call <see cref="StartServing"/> last in their
/// constructor (once their own fields are set).
/// </summary>
public abstract class FakeLanDevice : IDisposable
{
    private readonly Socket _ssdp = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly TcpListener _http;
    private readonly CancellationTokenSource _stop = new();
    private Task _ssdpLoop = Task.CompletedTask;
    private Task _httpLoop = Task.CompletedTask;

    protected FakeLanDevice()
    {
        Address = RandomLoopbackAddress();
        _ssdp.Bind(new IPEndPoint(Address, 1900));
        _http = new TcpListener(Address, 0);
        _http.Start();
    }

    public IPAddress Address { get; }

    /// <summary>Where SSDP searches go (<c>PortMappingOptions.SsdpEndPoint</c>).</summary>
    public IPEndPoint SsdpEndPoint => new(Address, 1900);

    /// <summary>Cancelled when the device is disposed.</summary>
    protected CancellationToken Stopping => _stop.Token;

    /// <summary>A random 127/8 address (not .0, .1 or .255 last): no clash with another test run binding the same
    /// well-known port on this machine.</summary>
    public static IPAddress RandomLoopbackAddress() =>
        new([127, (byte)RandomNumberGenerator.GetInt32(1, 255), (byte)RandomNumberGenerator.GetInt32(1, 255),
            (byte)RandomNumberGenerator.GetInt32(2, 255)]);

    /// <summary>The URL of <paramref name="path"/> on this device's HTTP server.</summary>
    protected Uri HttpUrl(string path) => new($"http://{Address}:{((IPEndPoint)_http.LocalEndpoint).Port}{path}");

    /// <summary>Sends <paramref name="datagram"/> from this device's SSDP socket.</summary>
    protected async Task SendSsdpAsync(string datagram, EndPoint to) =>
        await _ssdp.SendToAsync(System.Text.Encoding.ASCII.GetBytes(datagram), SocketFlags.None, to);

    /// <summary>Starts serving searches and connections.</summary>
    protected void StartServing()
    {
        _ssdpLoop = Task.Run(ServeSsdpAsync);
        _httpLoop = Task.Run(ServeHttpAsync);
    }

    /// <summary>Answers an M-SEARCH from <paramref name="searcher"/>.</summary>
    protected abstract Task OnSearchAsync(EndPoint searcher);

    /// <summary>Serves one HTTP connection; owns (and disposes or keeps) <paramref name="client"/>.</summary>
    protected abstract Task ServeConnectionAsync(Socket client);

    private async Task ServeSsdpAsync()
    {
        byte[] buffer = new byte[2048];
        while (true)
        {
            try
            {
                var received = await _ssdp.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), _stop.Token);
                if (!System.Text.Encoding.ASCII.GetString(buffer, 0, received.ReceivedBytes).StartsWith("M-SEARCH", StringComparison.Ordinal)) continue;
                await OnSearchAsync(received.RemoteEndPoint);
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
            Socket client;
            try
            {
                client = await _http.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }
            _ = Task.Run(() => ServeConnectionAsync(client));
        }
    }

    /// <summary>Releases what the subclass holds; called once the sockets are closed, before the loops are awaited.</summary>
    protected virtual void OnStopped()
    {
    }

    public void Dispose()
    {
        _stop.Cancel();
        _ssdp.Dispose();
        _http.Stop();
        OnStopped();
        Task.WaitAll([_ssdpLoop, _httpLoop], TimeSpan.FromSeconds(10));
        _stop.Dispose();
        GC.SuppressFinalize(this);
    }
}
