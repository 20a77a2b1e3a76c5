using System.Net;
using System.Net.Sockets;

namespace P2PStack.Addressing;

/// <summary>Where an address reaches: the public internet, or only this machine or a private network.</summary>
public static class AddressScope
{
    /// <summary>Whether the address is globally routable (not loopback, private, link-local, CGNAT, multicast or
    /// unspecified).</summary>
    public static bool IsPublic(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any)) return false;
        Span<byte> b = stackalloc byte[16];
        address.TryWriteBytes(b, out _);
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            return !(b[0] == 10 || b[0] == 0 || (b[0] == 172 && (b[1] & 0xF0) == 16) || (b[0] == 192 && b[1] == 168)
                || (b[0] == 169 && b[1] == 254) || (b[0] == 100 && (b[1] & 0xC0) == 64) || b[0] >= 224);
        }
        return !(address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6UniqueLocal || address.IsIPv6Multicast);
    }

    /// <summary>Whether the address names a globally routable IP. Addresses without an IP (memory, or a DNS name not
    /// resolved yet) are not public.</summary>
    public static bool IsPublic(Multiaddr address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return address.GetIPAddress() is { } ip && IsPublic(ip);
    }
}
