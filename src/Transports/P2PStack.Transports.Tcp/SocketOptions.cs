using System.Net.Sockets;

namespace P2PStack.Transports.Tcp;

/// <summary>Socket options the TCP and WebSocket transports share.</summary>
internal static class SocketOptions
{
    public static void ConfigureConnected(Socket socket, bool noDelay)
    {
        socket.NoDelay = noDelay;
    }

    /// <summary>SO_REUSEADDR everywhere; SO_REUSEPORT where the platform has it, set through the raw option
    /// (.NET exposes no named option for it).</summary>
    public static void EnableReusePort(Socket socket)
    {
        socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        if (OperatingSystem.IsLinux())
            socket.SetRawSocketOption(1 /* SOL_SOCKET */, 15 /* SO_REUSEPORT */, BitConverter.GetBytes(1));
        else if (OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD())
            socket.SetRawSocketOption(0xFFFF /* SOL_SOCKET */, 0x0200 /* SO_REUSEPORT */, BitConverter.GetBytes(1));
    }

    /// <summary>Drops the connection with a TCP RST instead of the FIN handshake.</summary>
    public static void Reset(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(enable: true, seconds: 0);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Already closed: nothing left to reset.
        }
        socket.Dispose();
    }

    private const int SolTcp = 6, TcpInfo = 11, TcpStateClose = 7;

    /// <summary>
    /// After recv returned 0 on a socket whose send side is still open: true when the connection is in TCP_CLOSE,
    /// which a FIN alone never reaches (it leaves CLOSE_WAIT), so the remote reset it. Linux only; elsewhere false.
    /// </summary>
    public static bool WasReset(Socket socket)
    {
        if (!OperatingSystem.IsLinux()) return false;
        Span<byte> info = stackalloc byte[8];
        try
        {
            return socket.GetRawSocketOption(SolTcp, TcpInfo, info) > 0 && info[0] == TcpStateClose;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }
}
