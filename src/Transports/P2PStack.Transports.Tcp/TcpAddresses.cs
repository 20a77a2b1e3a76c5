using System.Net;
using System.Net.Sockets;
using P2PStack.Addressing;

namespace P2PStack.Transports.Tcp;

/// <summary>Conversions between TCP multiaddrs (<c>/ip4|ip6|dns|dns4|dns6/.../tcp/port</c>) and socket endpoints.</summary>
internal static class TcpAddresses
{
    /// <summary>The host component and port when <paramref name="address"/> starts with host/tcp; the number of
    /// components after them is returned in <paramref name="rest"/>.</summary>
    public static bool TryParse(Multiaddr address, out MultiaddrComponent host, out ushort port, out int rest)
    {
        host = null!;
        port = 0;
        rest = 0;
        IReadOnlyList<MultiaddrComponent> components = address.Components;
        if (components.Count < 2 || components[1].Protocol != MultiaddrProtocols.Tcp) return false;
        MultiaddrProtocol hostProtocol = components[0].Protocol;
        if (hostProtocol != MultiaddrProtocols.Ip4 && hostProtocol != MultiaddrProtocols.Ip6 && !IsDns(hostProtocol)) return false;
        host = components[0];
        port = components[1].ToPort();
        rest = components.Count - 2;
        return true;
    }

    public static bool IsDns(MultiaddrProtocol protocol) =>
        protocol == MultiaddrProtocols.Dns || protocol == MultiaddrProtocols.Dns4 || protocol == MultiaddrProtocols.Dns6;

    public static Multiaddr FromEndPoint(EndPoint? endPoint)
    {
        if (endPoint is not IPEndPoint ip) return Multiaddr.Empty;
        IPAddress address = ip.Address.IsIPv4MappedToIPv6 ? ip.Address.MapToIPv4() : ip.Address;
        if (address.AddressFamily == AddressFamily.InterNetworkV6 && address.ScopeId != 0) address = new IPAddress(address.GetAddressBytes());
        return Multiaddr.FromComponents([
            MultiaddrComponent.FromIPAddress(address),
            MultiaddrComponent.FromPort(MultiaddrProtocols.Tcp, (ushort)ip.Port),
        ]);
    }

    /// <summary>IP addresses for a host component: the literal, or DNS answers of the family the protocol asks for.</summary>
    public static async ValueTask<IPAddress[]> ResolveAsync(MultiaddrComponent host, CancellationToken cancellationToken)
    {
        if (!IsDns(host.Protocol)) return [host.ToIPAddress()];
        AddressFamily family = host.Protocol == MultiaddrProtocols.Dns4 ? AddressFamily.InterNetwork
            : host.Protocol == MultiaddrProtocols.Dns6 ? AddressFamily.InterNetworkV6
            : AddressFamily.Unspecified;
        IPAddress[] found;
        try
        {
            found = await Dns.GetHostAddressesAsync(host.Value, family, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            throw new IOException($"could not resolve '{host.Value}': {e.Message}", e);
        }
        found = family == AddressFamily.Unspecified
            ? found.Where(a => a.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6).ToArray()
            : found.Where(a => a.AddressFamily == family).ToArray();
        if (found.Length == 0) throw new IOException($"'{host.Value}' has no {(family == AddressFamily.Unspecified ? "IP" : family.ToString())} address");
        return found;
    }
}
