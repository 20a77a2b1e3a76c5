using System.Net;
using System.Net.Http;
using System.Net.Sockets;
using System.Net.WebSockets;
using P2PStack.Addressing;
using P2PStack.Network;
using P2PStack.Transports.Tcp;

namespace P2PStack.Transports.WebSocket;

/// <summary>
/// WebSocket transport: <c>/ip4|ip6|dns|dns4|dns6/&lt;host&gt;/tcp/&lt;port&gt;/ws</c>. Dials with
/// <see cref="ClientWebSocket"/> over a TCP connection made by the TCP transport's dialer; listens with a minimal
/// HTTP/1.1 upgrade server. The byte stream rides in binary messages. Secure WebSockets (<c>/wss</c>,
/// <c>/tls/ws</c>): dialed with TLS checked by <see cref="WebSocketTransportOptions.ServerCertificateValidation"/>
/// (default: the system's checks); listened on with <see cref="WebSocketTransportOptions.ServerCertificate"/>, without
/// which secure listening is refused with <see cref="NotSupportedException"/>.
/// </summary>
public sealed class WebSocketTransport : ITransport
{
    private readonly WebSocketTransportOptions _options;
    private readonly TcpTransport _tcp;
    private readonly Func<IInboundAdmission?> _admission;

    /// <param name="admission">The host's admission (resolved when a listener starts), asked at TCP accept before
    /// the HTTP upgrade; null or returning null: upgrades run first and the host admits the connection afterwards.</param>
    public WebSocketTransport(WebSocketTransportOptions? options = null, Func<IInboundAdmission?>? admission = null)
    {
        _admission = admission ?? (() => null);
        _options = options ?? new WebSocketTransportOptions();
        _options.Validate();
        _tcp = new TcpTransport(_options.Tcp);
    }

    public string Name => "ws";

    public bool CanDial(Multiaddr address) =>
        WebSocketAddresses.TryParse(address, out Multiaddr tcp, out _) && _tcp.CanDial(tcp);

    public bool CanListen(Multiaddr address) =>
        WebSocketAddresses.TryParse(address, out Multiaddr tcp, out bool secure) && (!secure || _options.ServerCertificate is not null)
        && _tcp.CanListen(tcp);

    public async ValueTask<IRawConnection> DialAsync(Multiaddr address, CancellationToken cancellationToken)
    {
        Multiaddr tcp = Checked(address, dial: true, out bool secure);
        cancellationToken.ThrowIfCancellationRequested();

        Socket? socket = null;
        var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            AllowAutoRedirect = false,
            UseCookies = false,
            SslOptions = { RemoteCertificateValidationCallback = _options.ServerCertificateValidation },
            ConnectCallback = async (_, token) =>
            {
                // Our TCP dialer: multiaddr DNS rules, connect timeout, reuse-port, TCP_NODELAY.
                socket = await _tcp.ConnectAsync(tcp, token).ConfigureAwait(false);
                return new NetworkStream(socket, ownsSocket: true);
            },
        };
        var invoker = new HttpMessageInvoker(handler);
        var client = new ClientWebSocket();
        client.Options.KeepAliveInterval = _options.KeepAliveInterval;
        client.Options.HttpVersion = HttpVersion.Version11;
        client.Options.HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact;
        var uri = new Uri($"{(secure ? "wss" : "ws")}://{WebSocketAddresses.UriHost(tcp)}:{tcp.Components[1].Value}{_options.Path}");

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(_options.HandshakeTimeout + (_options.Tcp.ConnectTimeout == Timeout.InfiniteTimeSpan ? TimeSpan.Zero : _options.Tcp.ConnectTimeout));
        try
        {
            await client.ConnectAsync(uri, invoker, deadline.Token).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            client.Dispose();
            invoker.Dispose();
            if (e is OperationCanceledException && cancellationToken.IsCancellationRequested) throw;
            if (e is OperationCanceledException) throw new TimeoutException($"WebSocket dial to {address} did not complete in time", e);
            throw new IOException($"WebSocket dial to {address} failed: {Innermost(e).Message}", e);
        }
        return new WebSocketConnection(client, socket!, Direction.Outbound, _options.Tcp, owner: invoker, secure: secure);
    }

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null) e = e.InnerException;
        return e;
    }

    public ValueTask<IListener> ListenAsync(Multiaddr address, CancellationToken cancellationToken)
    {
        Multiaddr tcp = Checked(address, dial: false, out bool secure);
        cancellationToken.ThrowIfCancellationRequested();
        TcpConnectionListener listener = _tcp.Listen(tcp);
        return ValueTask.FromResult<IListener>(new WebSocketConnectionListener(listener, _options, secure ? _options.ServerCertificate : null,
            _admission()));
    }

    private Multiaddr Checked(Multiaddr address, bool dial, out bool secure)
    {
        if (WebSocketAddresses.TryParse(address, out Multiaddr tcp, out secure) && secure && !dial && _options.ServerCertificate is null)
            throw new NotSupportedException($"listening on secure WebSockets ({address}) needs a certificate: set WebSocketTransportOptions.ServerCertificate");
        if (dial ? !CanDial(address) : !CanListen(address))
            throw new ArgumentException($"the WebSocket transport cannot {(dial ? "dial" : "listen on")} {address}", nameof(address));
        return tcp;
    }
}
