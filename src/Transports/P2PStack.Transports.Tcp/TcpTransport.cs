using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using P2PStack.Addressing;
using P2PStack.Network;

namespace P2PStack.Transports.Tcp;

/// <summary>
/// TCP: dials <c>/ip4|ip6|dns|dns4|dns6/&lt;host&gt;/tcp/&lt;port&gt;</c> and listens on <c>/ip4|ip6/&lt;ip&gt;/tcp/&lt;port&gt;</c>
/// (port 0 picks a free port, reported in <see cref="IListener.ListenAddress"/>).
/// </summary>
public sealed class TcpTransport : ITransport
{
    private readonly TcpTransportOptions _options;
    private readonly ConcurrentDictionary<TcpConnectionListener, byte> _listeners = new();

    public TcpTransport(TcpTransportOptions? options = null)
    {
        _options = options ?? new TcpTransportOptions();
        _options.Validate();
    }

    public string Name => "tcp";

    public bool CanDial(Multiaddr address) =>
        address is not null && TcpAddresses.TryParse(address, out _, out ushort port, out int rest) && rest == 0 && port != 0;

    public bool CanListen(Multiaddr address) =>
        address is not null && TcpAddresses.TryParse(address, out MultiaddrComponent host, out _, out int rest) && rest == 0
        && !TcpAddresses.IsDns(host.Protocol);

    public ValueTask<IRawConnection> DialAsync(Multiaddr address, CancellationToken cancellationToken) =>
        DialAsync(address, DialOptions.Default, cancellationToken);

    /// <summary>
    /// Dials with the dial context. For one side of a simultaneous open (<see cref="DialOptions.SimultaneousOpenRole"/>)
    /// the socket is bound to a listen port (possible when <see cref="TcpTransportOptions.ReusePort"/> is set), so
    /// that both peers' SYNs name the same four-tuple, and the connection reports the requested role as its direction.
    /// Without a listen port to dial from there is no simultaneous open: the connection is an ordinary outbound one.
    /// <see cref="DialOptions.FromEphemeralPort"/> keeps an ordinary dial off the listen port.
    /// </summary>
    public async ValueTask<IRawConnection> DialAsync(Multiaddr address, DialOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!CanDial(address)) throw new ArgumentException($"the TCP transport cannot dial {address}", nameof(address));
        var role = options.SimultaneousOpenRole;
        bool bindListenPort = role is not null || _options.ReusePort && !options.FromEphemeralPort;
        var (socket, fromListenPort) = await ConnectCoreAsync(address, bindListenPort, cancellationToken, requireListenPort: role is not null)
            .ConfigureAwait(false);
        return new SocketConnection(socket, role is { } r && fromListenPort ? r : Direction.Outbound, _options);
    }

    /// <summary>Resolves and connects a socket to a host/tcp prefix of <paramref name="address"/> (the WebSocket
    /// transport dials its TCP part through this too).</summary>
    internal async ValueTask<Socket> ConnectAsync(Multiaddr address, CancellationToken cancellationToken) =>
        (await ConnectCoreAsync(address, _options.ReusePort, cancellationToken).ConfigureAwait(false)).Socket;

    /// <param name="requireListenPort">Only a socket on the listen port will do (a simultaneous open). Otherwise a dial
    /// whose four-tuple from the listen port is taken (a second connection to the same peer address) falls back to an
    /// ephemeral port, as go-libp2p's reuseport dialer does.</param>
    private async ValueTask<(Socket Socket, bool FromListenPort)> ConnectCoreAsync(Multiaddr address, bool bindListenPort,
        CancellationToken cancellationToken, bool requireListenPort = false)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (!TcpAddresses.TryParse(address, out MultiaddrComponent host, out ushort port, out _))
            throw new ArgumentException($"{address} does not start with a host and a TCP port", nameof(address));

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (_options.ConnectTimeout != Timeout.InfiniteTimeSpan) deadline.CancelAfter(_options.ConnectTimeout);
        try
        {
            IPAddress[] candidates = await TcpAddresses.ResolveAsync(host, deadline.Token).ConfigureAwait(false);
            Exception? lastError = null;
            foreach (IPAddress ip in candidates)
            {
                var socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                try
                {
                    var remote = new IPEndPoint(ip, port);
                    if (bindListenPort && BindToListenPort(socket, ip.AddressFamily))
                    {
                        // From the listen port the four-tuple is often taken (a connection to this address closed by
                        // us in the last minute is in TIME_WAIT), so that outcome is an error code, not an exception:
                        // a repeat dial would otherwise build a SocketException and its stack trace every time.
                        var error = await TryConnectAsync(socket, remote, deadline.Token).ConfigureAwait(false);
                        if (error == SocketError.Success)
                        {
                            SocketOptions.ConfigureConnected(socket, _options.NoDelay);
                            return (socket, true);
                        }
                        socket.Dispose();
                        lastError = new SocketException((int)error);
                        if (error != SocketError.AddressNotAvailable || requireListenPort) continue;
                        // Fall back to an ephemeral port.
                        socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
                    }
                    await socket.ConnectAsync(remote, deadline.Token).ConfigureAwait(false);
                    SocketOptions.ConfigureConnected(socket, _options.NoDelay);
                    return (socket, false);
                }
                catch (SocketException e)
                {
                    socket.Dispose();
                    lastError = e;
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            }
            throw new IOException($"could not connect to {address}: {Describe(lastError)}", lastError);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException(
                $"connecting to {address} took longer than TcpTransportOptions.ConnectTimeout ({_options.ConnectTimeout.TotalSeconds:0.###} s)", e);
        }
    }

    /// <summary>Connects <paramref name="socket"/> and returns the outcome as an error code (no exception for a refused
    /// or unavailable four-tuple); cancellation still throws.</summary>
    private static async ValueTask<SocketError> TryConnectAsync(Socket socket, IPEndPoint remote, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        using var args = new SocketAsyncEventArgs { RemoteEndPoint = remote };
        var completed = new TaskCompletionSource<SocketError>(TaskCreationOptions.RunContinuationsAsynchronously);
        args.Completed += (_, e) => completed.TrySetResult(e.SocketError);
        if (!socket.ConnectAsync(args)) return args.SocketError; // completed synchronously: no event follows
        await using (cancellationToken.UnsafeRegister(static state => Socket.CancelConnectAsync((SocketAsyncEventArgs)state!), args)
            .ConfigureAwait(false))
        {
            var error = await completed.Task.ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            return error;
        }
    }

    // The system's words ("Connection refused"), not the enum's name: this message reaches users.
    private static string Describe(Exception? e) => e?.Message ?? "no address to try";

    /// <summary>Dials from a port we listen on so the remote (and NATs) see that port; returns whether it could.</summary>
    private bool BindToListenPort(Socket socket, AddressFamily family)
    {
        SocketOptions.EnableReusePort(socket);
        foreach (TcpConnectionListener listener in _listeners.Keys)
        {
            IPEndPoint bound = listener.LocalEndPoint;
            if (bound.AddressFamily != family) continue;
            try
            {
                socket.Bind(new IPEndPoint(bound.Address, bound.Port));
                return true;
            }
            catch (SocketException)
            {
                // That port is taken for this destination family/address, or the listener does not share it (no
                // ReusePort); try another listener or an ephemeral port.
            }
        }
        return false;
    }

    public ValueTask<IListener> ListenAsync(Multiaddr address, CancellationToken cancellationToken)
    {
        if (!CanListen(address)) throw new ArgumentException($"the TCP transport cannot listen on {address}", nameof(address));
        cancellationToken.ThrowIfCancellationRequested();
        return ValueTask.FromResult<IListener>(Listen(address));
    }

    internal TcpConnectionListener Listen(Multiaddr address)
    {
        TcpAddresses.TryParse(address, out MultiaddrComponent host, out ushort port, out _);
        IPAddress ip = host.ToIPAddress();
        var socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (ip.AddressFamily == AddressFamily.InterNetworkV6) socket.DualMode = false;
            if (_options.ReusePort) SocketOptions.EnableReusePort(socket);
            socket.Bind(new IPEndPoint(ip, port));
            socket.Listen(_options.ListenBacklog);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new IOException($"could not listen on {address}: {e.Message}", e);
        }
        var listener = new TcpConnectionListener(socket, _options, l => _listeners.TryRemove(l, out _));
        _listeners.TryAdd(listener, 0);
        return listener;
    }
}
