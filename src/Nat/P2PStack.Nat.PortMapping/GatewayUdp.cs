using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;

namespace P2PStack.Nat.PortMapping;

/// <summary>Request/response over UDP to the gateway's port 5351 (NAT-PMP and PCP): retransmits with a doubling
/// timeout and takes only answers from the gateway's address that the caller's matcher accepts.</summary>
internal static class GatewayUdp
{
    public const int Port = 5351;

    public static async Task<byte[]> ExchangeAsync(string protocol, IPAddress gateway, byte[] request, Func<byte[], bool> isAnswer,
        PortMappingOptions options, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        var target = new IPEndPoint(gateway, Port);
        socket.Connect(target); // also filters datagrams from anyone but the gateway
        byte[] buffer = new byte[1100]; // PCP messages are at most 1100 bytes (RFC 6887 section 7)
        var rto = options.GatewayInitialRto;
        for (int sent = 0; sent < options.GatewayMaxTransmissions; sent++)
        {
            await socket.SendAsync(request, SocketFlags.None, cancellationToken).ConfigureAwait(false);
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            wait.CancelAfter(rto);
            try
            {
                while (true)
                {
                    int n = await socket.ReceiveAsync(buffer, SocketFlags.None, wait.Token).ConfigureAwait(false);
                    byte[] answer = buffer.AsSpan(0, n).ToArray();
                    if (isAnswer(answer)) return answer;
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                rto *= 2;
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused || ex.SocketErrorCode == SocketError.ConnectionReset)
            {
                throw new GatewayNotFoundException(protocol, $"{target} refused the request (nothing listens on port {Port})");
            }
        }
        throw new GatewayNotFoundException(protocol, $"no answer from {target} after {options.GatewayMaxTransmissions} requests");
    }

    /// <summary>The configured gateway, else the system's first IPv4 default gateway.</summary>
    public static IPAddress DefaultGateway(PortMappingOptions options, string protocol)
    {
        if (options.Gateway is { } configured) return configured;
        foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
        {
            if (nic.OperationalStatus != OperationalStatus.Up || nic.NetworkInterfaceType == NetworkInterfaceType.Loopback) continue;
            foreach (var gateway in nic.GetIPProperties().GatewayAddresses)
            {
                if (gateway.Address.AddressFamily == AddressFamily.InterNetwork && !gateway.Address.Equals(IPAddress.Any)) return gateway.Address;
            }
        }
        throw new GatewayNotFoundException(protocol, "the system has no IPv4 default gateway");
    }

    /// <summary>The local address the system uses towards <paramref name="gateway"/>.</summary>
    public static IPAddress LocalAddressTowards(IPAddress gateway)
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        probe.Connect(new IPEndPoint(gateway, Port));
        return ((IPEndPoint)probe.LocalEndPoint!).Address;
    }
}
