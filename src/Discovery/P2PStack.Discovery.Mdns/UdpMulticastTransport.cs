using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace P2PStack.Discovery.Mdns;

/// <summary>
/// Real mDNS sockets: one per address family bound to the mDNS port with SO_REUSEADDR (so other responders on the
/// machine keep working), joined to the group on each selected interface, multicast loopback on (peers on this
/// machine hear each other, and we hear our own queries as the spec wants). Packets go out once per interface.
/// </summary>
internal sealed partial class UdpMulticastTransport(MdnsOptions options, ILogger logger) : IMdnsTransport
{
    private readonly List<Endpoint> _endpoints = [];
    private readonly SemaphoreSlim _sendLock = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _receivers = [];

    /// <summary>Names of the interfaces joined, with the family ("eth0/IPv4").</summary>
    public IReadOnlyList<string> Joined => [.. _endpoints.SelectMany(e => e.Interfaces.Select(i => $"{i.Name}/{e.Socket.AddressFamily}"))];

    private sealed record Endpoint(Socket Socket, IPEndPoint Group, List<JoinedInterface> Interfaces);

    private sealed record JoinedInterface(string Name, int Index, IPAddress? IPv4Address);

    public Task StartAsync(MdnsPacketHandler handler, CancellationToken cancellationToken)
    {
        var interfaces = SelectInterfaces();
        if (options.UseIPv4) Open(AddressFamily.InterNetwork, interfaces);
        if (options.UseIPv6 && Socket.OSSupportsIPv6) Open(AddressFamily.InterNetworkV6, interfaces);
        if (_endpoints.Count == 0)
            throw new SocketException((int)SocketError.NetworkUnreachable, "mDNS could not join the multicast group on any interface");
        foreach (var endpoint in _endpoints) _receivers.Add(ReceiveLoopAsync(endpoint.Socket, handler));
        return Task.CompletedTask;
    }

    public async ValueTask SendAsync(ReadOnlyMemory<byte> packet, IPEndPoint? destination, CancellationToken cancellationToken)
    {
        await _sendLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            foreach (var endpoint in _endpoints)
            {
                if (destination is not null)
                {
                    if (destination.AddressFamily == endpoint.Socket.AddressFamily)
                        await SendOneAsync(endpoint.Socket, packet, destination, cancellationToken).ConfigureAwait(false);
                    continue;
                }
                foreach (var joined in endpoint.Interfaces)
                {
                    SetOutgoingInterface(endpoint.Socket, joined);
                    await SendOneAsync(endpoint.Socket, packet, endpoint.Group, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            _sendLock.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (var endpoint in _endpoints) endpoint.Socket.Dispose();
        await Task.WhenAll(_receivers).ConfigureAwait(false);
        _endpoints.Clear();
        _sendLock.Dispose();
        _stopping.Dispose();
    }

    private async Task SendOneAsync(Socket socket, ReadOnlyMemory<byte> packet, IPEndPoint destination, CancellationToken cancellationToken)
    {
        try
        {
            await socket.SendToAsync(packet, SocketFlags.None, destination, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            Log.SendFailed(logger, destination, e.Message); // one unreachable interface must not stop the others
        }
    }

    private List<NetworkInterface> SelectInterfaces()
    {
        var all = NetworkInterface.GetAllNetworkInterfaces();
        if (options.Interfaces.Count > 0)
            return [.. all.Where(i => options.Interfaces.Contains(i.Name, StringComparer.Ordinal))];
        return [.. all.Where(i =>
            i.NetworkInterfaceType == NetworkInterfaceType.Loopback
                ? options.IncludeLoopback
                : i.OperationalStatus == OperationalStatus.Up && i.SupportsMulticast)];
    }

    private void Open(AddressFamily family, List<NetworkInterface> interfaces)
    {
        bool v6 = family == AddressFamily.InterNetworkV6;
        var socket = new Socket(family, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            if (v6) socket.DualMode = false;
            socket.Bind(new IPEndPoint(v6 ? IPAddress.IPv6Any : IPAddress.Any, options.Port));
            var level = v6 ? SocketOptionLevel.IPv6 : SocketOptionLevel.IP;
            socket.SetSocketOption(level, SocketOptionName.MulticastTimeToLive, options.MulticastTimeToLive);
            socket.SetSocketOption(level, SocketOptionName.MulticastLoopback, true);
            var joined = new List<JoinedInterface>();
            foreach (var nic in interfaces)
            {
                if (Join(socket, nic, v6) is { } one) joined.Add(one);
            }
            if (joined.Count == 0)
            {
                socket.Dispose();
                return;
            }
            _endpoints.Add(new Endpoint(socket, new IPEndPoint(v6 ? options.IPv6Group : options.IPv4Group, options.Port), joined));
        }
        catch (SocketException e)
        {
            Log.OpenFailed(logger, family, e.Message);
            socket.Dispose();
        }
    }

    private JoinedInterface? Join(Socket socket, NetworkInterface nic, bool v6)
    {
        try
        {
            var properties = nic.GetIPProperties();
            if (v6)
            {
                if (!nic.Supports(NetworkInterfaceComponent.IPv6)) return null;
                int index = properties.GetIPv6Properties().Index;
                socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.AddMembership, new IPv6MulticastOption(options.IPv6Group, index));
                SetOutgoingInterface(socket, new JoinedInterface(nic.Name, index, null));
                return new JoinedInterface(nic.Name, index, null);
            }
            var address = properties.UnicastAddresses.Select(a => a.Address).FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork);
            if (address is null) return null;
            socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.AddMembership, new MulticastOption(options.IPv4Group, address));
            var result = new JoinedInterface(nic.Name, 0, address);
            SetOutgoingInterface(socket, result);
            return result;
        }
        catch (Exception e) when (e is SocketException or NetworkInformationException or PlatformNotSupportedException)
        {
            Log.JoinFailed(logger, nic.Name, v6 ? "IPv6" : "IPv4", e.Message);
            return null;
        }
    }

    // Also a probe at join time: an interface whose multicast route is missing fails here, not at every send.
    private static void SetOutgoingInterface(Socket socket, JoinedInterface joined)
    {
        if (joined.IPv4Address is { } address)
            socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastInterface, address.GetAddressBytes());
        else
            socket.SetSocketOption(SocketOptionLevel.IPv6, SocketOptionName.MulticastInterface, joined.Index);
    }

    private async Task ReceiveLoopAsync(Socket socket, MdnsPacketHandler handler)
    {
        await Task.Yield();
        var buffer = new byte[65536];
        EndPoint any = socket.AddressFamily == AddressFamily.InterNetworkV6 ? new IPEndPoint(IPAddress.IPv6Any, 0) : new IPEndPoint(IPAddress.Any, 0);
        while (!_stopping.IsCancellationRequested)
        {
            SocketReceiveFromResult result;
            try
            {
                result = await socket.ReceiveFromAsync(buffer, SocketFlags.None, any, _stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e) when (!_stopping.IsCancellationRequested)
            {
                Log.ReceiveFailed(logger, e.Message); // e.g. an ICMP error from an earlier send; keep listening
                continue;
            }
            catch (SocketException)
            {
                return;
            }
            try
            {
                handler(buffer.AsSpan(0, result.ReceivedBytes), (IPEndPoint)result.RemoteEndPoint);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                Log.HandlerFailed(logger, e);
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(Level = LogLevel.Warning, Message = "mDNS could not open its {Family} socket: {Reason}")]
        public static partial void OpenFailed(ILogger logger, AddressFamily family, string reason);

        [LoggerMessage(Level = LogLevel.Debug, Message = "mDNS could not join the group on {Interface} ({Family}): {Reason}")]
        public static partial void JoinFailed(ILogger logger, string @interface, string family, string reason);

        [LoggerMessage(Level = LogLevel.Debug, Message = "mDNS send to {Destination} failed: {Reason}")]
        public static partial void SendFailed(ILogger logger, IPEndPoint destination, string reason);

        [LoggerMessage(Level = LogLevel.Debug, Message = "mDNS receive failed: {Reason}")]
        public static partial void ReceiveFailed(ILogger logger, string reason);

        [LoggerMessage(Level = LogLevel.Error, Message = "mDNS packet handler failed")]
        public static partial void HandlerFailed(ILogger logger, Exception error);
    }
}
