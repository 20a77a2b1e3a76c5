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
}
