using System.Net;
using System.Net.Sockets;
using P2PStack.Addressing;

namespace P2PStack.Nat;

/// <summary>
/// Tells public addresses from the rest (IANA special-purpose registries for IPv4 and IPv6): private, shared (CGNAT
/// 100.64/10), loopback, link-local, documentation, benchmarking, multicast and reserved ranges are not public.
/// AutoNAT servers do not dial non-public addresses, hole punching only tries public ones, and a gateway whose
/// external address is not public cannot make a node reachable.
/// </summary>
public static class AddressScope
{
    private static readonly (uint Network, int Bits)[] NonPublicV4 =
    [
        (0x00000000, 8),    // 0.0.0.0/8 "this network"
        (0x0A000000, 8),    // 10/8
        (0x64400000, 10),   // 100.64/10 shared address space (CGNAT)
        (0x7F000000, 8),    // 127/8 loopback
        (0xA9FE0000, 16),   // 169.254/16 link-local
        (0xAC100000, 12),   // 172.16/12
        (0xC0000000, 24),   // 192.0.0/24 IETF protocol assignments
        (0xC0000200, 24),   // 192.0.2/24 TEST-NET-1
        (0xC0586300, 24),   // 192.88.99/24 6to4 relay anycast (deprecated)
        (0xC0A80000, 16),   // 192.168/16
        (0xC6120000, 15),   // 198.18/15 benchmarking
        (0xC6336400, 24),   // 198.51.100/24 TEST-NET-2
        (0xCB007100, 24),   // 203.0.113/24 TEST-NET-3
        (0xE0000000, 4),    // 224/4 multicast
        (0xF0000000, 4),    // 240/4 reserved, and the broadcast address
    ];

    /// <summary>Whether the address is globally routable unicast.</summary>
    public static bool IsPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            Span<byte> bytes = stackalloc byte[4];
            address.TryWriteBytes(bytes, out _);
            uint value = (uint)(bytes[0] << 24 | bytes[1] << 16 | bytes[2] << 8 | bytes[3]);
            foreach (var (network, bits) in NonPublicV4)
            {
                uint mask = bits == 0 ? 0 : uint.MaxValue << (32 - bits);
                if ((value & mask) == network) return false;
            }
            return true;
        }
        if (address.AddressFamily != AddressFamily.InterNetworkV6) return false;
        if (address.Equals(IPAddress.IPv6Any) || address.Equals(IPAddress.IPv6Loopback)) return false;
        if (address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6Multicast || address.IsIPv6UniqueLocal) return false;
        Span<byte> v6 = stackalloc byte[16];
        address.TryWriteBytes(v6, out _);
        if (v6[0] == 0x20 && v6[1] == 0x01 && v6[2] == 0x0d && v6[3] == 0xb8) return false; // 2001:db8::/32 documentation
        if (v6[0] == 0x01 && v6[1] == 0x00 && v6[2] == 0 && v6[3] == 0 && v6[4] == 0 && v6[5] == 0 && v6[6] == 0 && v6[7] == 0) return false; // 100::/64 discard
        return (v6[0] & 0xE0) == 0x20; // global unicast is 2000::/3
    }

    /// <summary>The opposite of <see cref="IsPublic(IPAddress)"/>.</summary>
    public static bool IsPrivate(IPAddress address) => !IsPublic(address);

    /// <summary>
    /// Whether a multiaddr names a public endpoint: its IP is public, or it is a DNS name (resolved by whoever dials
    /// it). Relayed addresses (<c>/p2p-circuit</c>) are never public: they reach the node only through a relay.
    /// </summary>
    public static bool IsPublic(Multiaddr address)
    {
        if (IsRelayed(address)) return false;
        var ip = address.GetIPAddress();
        if (ip is not null) return IsPublic(ip);
        return address.Components.Count > 0 && address.Components[0].Protocol is var p
            && (p == MultiaddrProtocols.Dns || p == MultiaddrProtocols.Dns4 || p == MultiaddrProtocols.Dns6 || p == MultiaddrProtocols.DnsAddr);
    }

    /// <summary>Whether the address goes through a relay (<c>/p2p-circuit</c>).</summary>
    public static bool IsRelayed(Multiaddr address) => address.Has(MultiaddrProtocols.P2PCircuit);
}
