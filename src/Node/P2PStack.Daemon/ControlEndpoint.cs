using System.Net;
using System.Net.Sockets;
using P2PStack.Addressing;

namespace P2PStack.Daemon;

/// <summary>
/// Maps the multiaddrs of the control protocol (the daemon's control socket, a client's stream handler address) to
/// sockets: <c>/unix/PATH</c> or <c>/ip4|ip6/ADDR/tcp/PORT</c>, nothing else.
/// </summary>
public static class ControlEndpoint
{
    /// <summary>The socket endpoint of <paramref name="address"/>.</summary>
    /// <exception cref="ArgumentException">Not a unix path or a TCP address on an IP.</exception>
    public static EndPoint ToEndPoint(Multiaddr address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var parts = address.Components;
        if (parts.Count == 1 && parts[0].Protocol == MultiaddrProtocols.Unix)
            return new UnixDomainSocketEndPoint(parts[0].Value);
        if (parts.Count == 2 && (parts[0].Protocol == MultiaddrProtocols.Ip4 || parts[0].Protocol == MultiaddrProtocols.Ip6)
            && parts[1].Protocol == MultiaddrProtocols.Tcp)
            return new IPEndPoint(parts[0].ToIPAddress(), parts[1].ToPort());
        throw new ArgumentException($"{address} is not a control socket address (expected /unix/PATH or /ip4|ip6/ADDR/tcp/PORT)", nameof(address));
    }

    /// <summary>The multiaddr of a bound socket endpoint.</summary>
    public static Multiaddr ToMultiaddr(EndPoint endPoint) => endPoint switch
    {
        IPEndPoint ip => Multiaddr.FromComponents([MultiaddrComponent.FromIPAddress(ip.Address),
            MultiaddrComponent.FromPort(MultiaddrProtocols.Tcp, (ushort)ip.Port)]),
        UnixDomainSocketEndPoint unix => Multiaddr.FromComponents([MultiaddrComponent.Create(MultiaddrProtocols.Unix, unix.ToString())]),
        _ => throw new ArgumentException($"unsupported endpoint {endPoint}", nameof(endPoint)),
    };

    /// <summary>The endpoint a control socket on <paramref name="address"/> would bind, after the checks of <see cref="Listen"/>.</summary>
    /// <exception cref="ArgumentException">Not a control socket address, or a non-loopback IP without
    /// <paramref name="allowNonLoopback"/>.</exception>
    public static EndPoint CheckListenAddress(Multiaddr address, bool allowNonLoopback)
    {
        var endPoint = ToEndPoint(address);
        if (endPoint is IPEndPoint ip && !IPAddress.IsLoopback(ip.Address) && !allowNonLoopback)
            throw new ArgumentException($"control socket {address} is not on a loopback address: the control protocol has no "
                + "authentication, so anyone reaching it would drive the node (allow it explicitly to bind it anyway)", nameof(address));
        return endPoint;
    }

    /// <summary>Binds and listens on <paramref name="address"/>. An existing unix socket path is refused, not replaced:
    /// nothing tells a stale socket from another file safely.</summary>
    /// <exception cref="ArgumentException">The address is not a control socket address, or a non-loopback IP without
    /// <paramref name="allowNonLoopback"/>.</exception>
    /// <exception cref="IOException">The unix socket path exists.</exception>
    public static Socket Listen(Multiaddr address, bool allowNonLoopback, int backlog = 512)
    {
        var endPoint = CheckListenAddress(address, allowNonLoopback);
        if (endPoint is UnixDomainSocketEndPoint unix && Path.Exists(unix.ToString()))
            throw new IOException($"control socket path {unix} exists (another daemon, or one that did not stop cleanly: remove it)");
        var socket = endPoint is IPEndPoint
            ? new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp)
            : new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            socket.Bind(endPoint);
            if (endPoint is UnixDomainSocketEndPoint path && !OperatingSystem.IsWindows())
                File.SetUnixFileMode(path.ToString(), UnixFileMode.UserRead | UnixFileMode.UserWrite); // the owner's only
            socket.Listen(backlog);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Connects to <paramref name="address"/> (a client's stream handler).</summary>
    public static async Task<Socket> ConnectAsync(Multiaddr address, CancellationToken cancellationToken)
    {
        var endPoint = ToEndPoint(address);
        var socket = endPoint is IPEndPoint
            ? new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true }
            : new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}
