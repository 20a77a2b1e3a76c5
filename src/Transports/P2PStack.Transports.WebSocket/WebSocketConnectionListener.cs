using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Net.WebSockets;
using System.Threading.Channels;
using P2PStack.Addressing;
using P2PStack.Network;
using P2PStack.Transports.Tcp;
using WebSocketClass = System.Net.WebSockets.WebSocket;

namespace P2PStack.Transports.WebSocket;

/// <summary>Accepts TCP connections, runs each HTTP upgrade concurrently (bounded by the handshake timeout, and in number
/// overall and per IP) and queues the upgraded connections for <see cref="AcceptAsync"/>. With a certificate it is a
/// <c>/wss</c> listener: TLS first, within the same handshake deadline.</summary>
internal sealed class WebSocketConnectionListener : IListener
{
    private readonly TcpConnectionListener _tcp;
    private readonly WebSocketTransportOptions _options;
    private readonly X509Certificate2? _certificate;
    private readonly IInboundAdmission? _admission;
    private readonly Channel<WebSocketConnection> _ready;
    private readonly CancellationTokenSource _closed = new();
    private readonly Task _acceptLoop;
    private readonly Lock _gate = new();
    private readonly Dictionary<IPAddress, int> _pendingByIp = [];
    private int _pending;
    private int _disposed;

    /// <param name="admission">The host's admission, asked at TCP accept so that an upgrade only runs for a connection
    /// the host would accept (its handshake limits, gaters and resource limits); null: the host admits it later.</param>
    public WebSocketConnectionListener(TcpConnectionListener tcp, WebSocketTransportOptions options, X509Certificate2? certificate = null,
        IInboundAdmission? admission = null)
    {
        _tcp = tcp;
        _admission = admission;
        _options = options;
        _certificate = certificate;
        ListenAddress = WebSocketAddresses.WithWs(tcp.ListenAddress, secure: certificate is not null);
        _ready = Channel.CreateBounded<WebSocketConnection>(new BoundedChannelOptions(options.Tcp.ListenBacklog));
        _acceptLoop = AcceptLoopAsync();
    }

    public Multiaddr ListenAddress { get; }

    private async Task AcceptLoopAsync()
    {
        while (true)
        {
            Socket socket;
            try
            {
                socket = await _tcp.AcceptSocketAsync(_closed.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ObjectDisposedException or OperationCanceledException)
            {
                return;
            }
            catch (SocketException)
            {
                continue;
            }
            var remote = (socket.RemoteEndPoint as IPEndPoint)?.Address;
            var ip = remote is not null && _options.ExemptLoopbackFromIpLimit && IPAddress.IsLoopback(remote) ? null : AdmissionGroup(remote);
            if (!TryReserve(ip))
            {
                // Before a byte is read: a peer that opens sockets and never finishes their upgrade holds no more than
                // its share of upgrade slots.
                socket.Dispose();
                continue;
            }
            IAdmissionTicket? ticket = null;
            if (_admission is not null)
            {
                // The host's own admission, also before a byte is read: a refused or gated peer gets no TLS or HTTP work.
                try
                {
                    ticket = _admission.TryAdmit(WebSocketAddresses.WithWs(TcpAddresses.FromEndPoint(socket.LocalEndPoint), _certificate is not null),
                        WebSocketAddresses.WithWs(TcpAddresses.FromEndPoint(socket.RemoteEndPoint), _certificate is not null), out _);
                }
                catch (SocketException)
                {
                    // The socket closed already: no endpoint to admit.
                }
                if (ticket is null)
                {
                    Release(ip);
                    socket.Dispose();
                    continue;
                }
            }
            _ = UpgradeAsync(socket, ip, ticket);
        }
    }

    private bool TryReserve(IPAddress? ip)
    {
        lock (_gate)
        {
            if (_pending >= _options.MaxPendingUpgrades) return false;
            if (ip is not null && _pendingByIp.GetValueOrDefault(ip) >= _options.MaxPendingUpgradesPerIp) return false;
            _pending++;
            if (ip is not null) _pendingByIp[ip] = _pendingByIp.GetValueOrDefault(ip) + 1;
            return true;
        }
    }

    private void Release(IPAddress? ip)
    {
        lock (_gate)
        {
            _pending--;
            if (ip is null) return;
            int left = _pendingByIp.GetValueOrDefault(ip) - 1;
            if (left > 0) _pendingByIp[ip] = left;
            else _pendingByIp.Remove(ip);
        }
    }

    /// <summary>The IPv4 address, or the /64 of an IPv6 address (one host usually holds a whole /64).</summary>
    internal static IPAddress? AdmissionGroup(IPAddress? ip)
    {
        if (ip is null) return null;
        if (ip.IsIPv4MappedToIPv6) return ip.MapToIPv4();
        if (ip.AddressFamily != AddressFamily.InterNetworkV6) return ip;
        Span<byte> bytes = stackalloc byte[16];
        ip.TryWriteBytes(bytes, out _);
        bytes[8..].Clear();
        return new IPAddress(bytes);
    }

    private async Task UpgradeAsync(Socket socket, IPAddress? ip, IAdmissionTicket? ticket)
    {
        try
        {
            SocketOptions.ConfigureConnected(socket, _options.Tcp.NoDelay);
            Stream stream = new NetworkStream(socket, ownsSocket: true);
            using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(_closed.Token))
            {
                deadline.CancelAfter(_options.HandshakeTimeout);
                if (_certificate is not null)
                {
                    var tls = new SslStream(stream, leaveInnerStreamOpen: false);
                    stream = tls;
                    await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                    {
                        ServerCertificate = _certificate,
                        ApplicationProtocols = [SslApplicationProtocol.Http11],
                    }, deadline.Token).ConfigureAwait(false);
                }
                await WebSocketHandshake.AcceptAsync(stream, _options.MaxHandshakeBytes, deadline.Token).ConfigureAwait(false);
            }
            WebSocketClass webSocket = WebSocketClass.CreateFromStream(stream, new WebSocketCreationOptions
            {
                IsServer = true,
                KeepAliveInterval = _options.KeepAliveInterval,
            });
            var connection = new WebSocketConnection(webSocket, socket, Direction.Inbound, _options.Tcp, secure: _certificate is not null,
                admission: ticket);
            ticket = null; // the connection returns it as it closes, unless the host takes it over
            if (!_ready.Writer.TryWrite(connection)) Drop(connection); // closed, or too many unaccepted connections
        }
        catch (Exception)
        {
            // A failed upgrade concerns only that client; the 400 (if any) has been sent.
            socket.Dispose();
            ticket?.Dispose();
        }
        finally
        {
            Release(ip);
        }
    }

    public async ValueTask<IRawConnection> AcceptAsync(CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        try
        {
            return await _ready.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException e)
        {
            throw new ObjectDisposedException($"the listener on {ListenAddress} was closed", e);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _closed.Cancel();
        await _tcp.DisposeAsync().ConfigureAwait(false);
        await _acceptLoop.ConfigureAwait(false);
        _ready.Writer.TryComplete();
        while (_ready.Reader.TryRead(out WebSocketConnection? queued)) Drop(queued);
    }

    /// <summary>Aborts a connection the host never saw, and returns its admission.</summary>
    private static void Drop(WebSocketConnection connection)
    {
        connection.Abort();
        connection.Admission?.Dispose();
    }
}
