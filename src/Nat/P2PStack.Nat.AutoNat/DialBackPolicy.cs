using System.Net;
using System.Net.Sockets;
using P2PStack.Addressing;

namespace P2PStack.Nat.AutoNat;

/// <summary>
/// Which requested addresses a server may dial back (pure logic, apart from the handlers): transports we can dial
/// (ip4/ip6 + tcp, optionally /ws), no relayed addresses, public addresses only unless allowed, IP families we have.
/// v1 also dials only the requester's own IP (the spec's defence against third-party dials); v2 may dial another IP
/// but only after the requester paid in dial data.
/// </summary>
public static class DialBackPolicy
{
    /// <summary>Whether this server can and may dial the address at all.</summary>
    public static bool IsDialable(Multiaddr address, bool allowPrivate, bool haveIPv4, bool haveIPv6)
    {
        var components = address.Components;
        if (components.Count < 2 || AddressScope.IsRelayed(address)) return false;
        var network = components[0].Protocol;
        if (network != MultiaddrProtocols.Ip4 && network != MultiaddrProtocols.Ip6) return false;
        if (components[1].Protocol != MultiaddrProtocols.Tcp) return false;
        foreach (var extra in components.Skip(2))
        {
            if (extra.Protocol != MultiaddrProtocols.Ws && extra.Protocol != MultiaddrProtocols.P2P) return false;
        }
        var ip = address.GetIPAddress();
        if (ip is null) return false;
        if (ip.AddressFamily == AddressFamily.InterNetwork ? !haveIPv4 : !haveIPv6) return false;
        if (ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any)) return false;
        return allowPrivate || AddressScope.IsPublic(ip);
    }

    /// <summary>v1: the addresses to dial, at most <paramref name="max"/>, all on the requester's observed IP.</summary>
    public static IReadOnlyList<Multiaddr> SelectV1(IEnumerable<Multiaddr> requested, IPAddress? observedIp, int max, bool allowPrivate,
        bool haveIPv4, bool haveIPv6)
    {
        if (observedIp is null) return [];
        var observed = Normalise(observedIp);
        return [.. requested.Where(a => IsDialable(a, allowPrivate, haveIPv4, haveIPv6) && Normalise(a.GetIPAddress()!).Equals(observed))
            .Distinct().Take(max)];
    }

    /// <summary>v2: the index of the first address to dial, or -1; <paramref name="needsDialData"/> when its IP is not
    /// the requester's (the amplification defence).</summary>
    public static int SelectV2(IReadOnlyList<Multiaddr?> requested, IPAddress? observedIp, bool allowPrivate, bool haveIPv4, bool haveIPv6,
        out bool needsDialData)
    {
        for (int i = 0; i < requested.Count; i++)
        {
            if (requested[i] is not { } address || !IsDialable(address, allowPrivate, haveIPv4, haveIPv6)) continue;
            needsDialData = observedIp is null || !Normalise(address.GetIPAddress()!).Equals(Normalise(observedIp));
            return i;
        }
        needsDialData = false;
        return -1;
    }

    private static IPAddress Normalise(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
