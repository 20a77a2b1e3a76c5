using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using P2PStack.Addressing;

namespace P2PStack.Host;

/// <summary>Turns listen addresses on unspecified IPs into the concrete addresses other peers can dial.</summary>
internal static class AddressExpansion
{
    public static IReadOnlyList<Multiaddr> Expand(IEnumerable<Multiaddr> listenAddresses)
    {
        var result = new List<Multiaddr>();
        List<IPAddress>? interfaces = null;
        foreach (var address in listenAddresses)
        {
            var ip = address.GetIPAddress();
            if (ip is null || !(ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any)))
            {
                result.Add(address);
                continue;
            }
            interfaces ??= InterfaceAddresses();
            var rest = Multiaddr.FromComponents(address.Components.Skip(1));
            foreach (var local in interfaces.Where(a => a.AddressFamily == ip.AddressFamily))
                result.Add(Multiaddr.FromComponents([MultiaddrComponent.FromIPAddress(local)]).Encapsulate(rest));
        }
        return [.. result.Distinct()];
    }

    private static List<IPAddress> InterfaceAddresses()
    {
        var addresses = new List<IPAddress>();
        try
        {
            foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
            {
                if (nic.OperationalStatus != OperationalStatus.Up) continue;
                foreach (var unicast in nic.GetIPProperties().UnicastAddresses)
                {
                    var a = unicast.Address;
                    if (a.AddressFamily == AddressFamily.InterNetworkV6 && (a.IsIPv6LinkLocal || a.ScopeId != 0)) continue;
                    addresses.Add(a);
                }
            }
        }
        catch (NetworkInformationException)
        {
            // No interface list: announce loopback only.
        }
        if (addresses.Count == 0) addresses.Add(IPAddress.Loopback);
        // Loopback last, so remote peers try routable addresses first.
        return [.. addresses.OrderBy(IPAddress.IsLoopback)];
    }
}
