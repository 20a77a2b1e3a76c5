using System.Net;
using System.Net.Sockets;
using P2PStack.Addressing;

namespace P2PStack.Privacy.Onion.Directory;

/// <summary>Which addresses a relay may connect to on a client's word, and which network an address belongs to for
/// path diversity.</summary>
internal static class AddressPolicy
{
    /// <summary>True for an address in a private, loopback, link-local, shared (CGNAT), unique-local or unspecified
    /// range: a relay does not connect there for an anonymous client unless its options allow it.</summary>
    public static bool IsPrivate(Multiaddr address)
    {
        var ip = address.GetIPAddress();
        if (ip is null) return false;
        if (ip.IsIPv4MappedToIPv6) ip = ip.MapToIPv4();
        if (IPAddress.IsLoopback(ip) || ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any)) return true;
        if (ip.AddressFamily == AddressFamily.InterNetwork)
        {
            Span<byte> b = stackalloc byte[4];
            ip.TryWriteBytes(b, out _);
            return b[0] == 10 || b[0] == 0 || (b[0] == 172 && (b[1] & 0xF0) == 16) || (b[0] == 192 && b[1] == 168)
                || (b[0] == 169 && b[1] == 254) || (b[0] == 100 && (b[1] & 0xC0) == 64) || b[0] >= 224;
        }
        return ip.IsIPv6LinkLocal || ip.IsIPv6SiteLocal || ip.IsIPv6UniqueLocal || ip.IsIPv6Multicast;
    }

    /// <summary>The network an address lies in for path diversity ("4:" + the first bits of an IPv4 address, "6:" for
    /// IPv6), or null for addresses without an IP (memory, DNS).</summary>
    public static string? NetworkOf(Multiaddr address, int ipv4PrefixLength, int ipv6PrefixLength)
    {
        var ip = address.GetIPAddress();
        if (ip is null) return null;
        if (ip.IsIPv4MappedToIPv6) ip = ip.MapToIPv4();
        bool v4 = ip.AddressFamily == AddressFamily.InterNetwork;
        var bytes = ip.GetAddressBytes();
        int prefix = Math.Clamp(v4 ? ipv4PrefixLength : ipv6PrefixLength, 0, bytes.Length * 8);
        for (int bit = prefix; bit < bytes.Length * 8; bit++) bytes[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        return (v4 ? "4:" : "6:") + Convert.ToHexString(bytes) + "/" + prefix;
    }
}
