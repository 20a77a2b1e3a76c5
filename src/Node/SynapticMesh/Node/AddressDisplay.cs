using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using P2PStack.Addressing;
using P2PStack.Identity;

namespace SynapticMesh.Node;

/// <summary>Turns bound listen addresses into dialable ones, each ending in /p2p/&lt;peer id&gt;.</summary>
public static class AddressDisplay
{
    /// <summary>Expands 0.0.0.0 and :: to this machine's interface addresses, then appends /p2p/&lt;peer&gt;.</summary>
    public static IReadOnlyList<string> Dialable(IEnumerable<Multiaddr> listenAddresses, PeerId peer)
    {
        var result = new List<string>();
        foreach (var address in listenAddresses)
        {
            foreach (var expanded in Expand(address)) result.Add(WithPeer(expanded, peer));
        }
        return [.. result.Distinct(StringComparer.Ordinal)];
    }

    public static string WithPeer(Multiaddr address, PeerId peer) =>
        address.Has(MultiaddrProtocols.P2P) ? address.ToString() : $"{address}/p2p/{peer}";

    private static IEnumerable<Multiaddr> Expand(Multiaddr address)
    {
        var ip = address.GetIPAddress();
        if (ip is null || !(ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any))) return [address];
        var family = ip.AddressFamily;
        var first = address.Components[0];
        var rest = Multiaddr.FromComponents(address.Components.Skip(1));
        var expanded = LocalAddresses(family)
            .Select(local => Multiaddr.FromComponents([MultiaddrComponent.FromIPAddress(local)]).Encapsulate(rest))
            .ToList();
        return expanded.Count > 0 && first.Protocol.Code is 4 or 41 ? expanded : [address];
    }

    private static IEnumerable<IPAddress> LocalAddresses(AddressFamily family)
    {
        NetworkInterface[] interfaces;
        try
        {
            interfaces = NetworkInterface.GetAllNetworkInterfaces();
        }
        catch (NetworkInformationException)
        {
            return [];
        }
        return interfaces
            .Where(i => i.OperationalStatus is OperationalStatus.Up or OperationalStatus.Unknown)
            .SelectMany(i => i.GetIPProperties().UnicastAddresses.Select(u => u.Address))
            .Where(a => a.AddressFamily == family && !a.IsIPv6LinkLocal)
            .OrderBy(a => IPAddress.IsLoopback(a) ? 0 : 1)
            .Distinct();
    }
}
