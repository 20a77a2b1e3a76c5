using System.Net;
using System.Text;
using P2PStack.Addressing;
using P2PStack.Discovery.Mdns.Dns;
using P2PStack.Identity;

namespace P2PStack.Discovery.Mdns;

/// <summary>A peer found in one mDNS response: its id and addresses (without /p2p).</summary>
public sealed record MdnsPeer(PeerId Peer, IReadOnlyList<Multiaddr> Addresses);

/// <summary>
/// Reads the peers out of a response: each PTR of the service names an instance, whose TXT records (in the answers
/// or the additional records, as js and go send them) carry <c>dnsaddr=</c> strings. Invalid strings are skipped
/// one by one; an instance with TTL 0 (a goodbye) or our own instance is ignored; loopback addresses count only when
/// the packet itself came over loopback and loopback is enabled. <see cref="OnSourceNetwork"/> tells the addresses
/// on the sender's network from those it merely claims.
/// </summary>
internal static class MdnsResponseParser
{
    private static readonly byte[] DnsAddrPrefix = "dnsaddr="u8.ToArray();
    private static readonly UTF8Encoding StrictUtf8 = new(false, true);

    public static List<MdnsPeer> Parse(DnsMessage response, MdnsOptions options, string ownInstance, PeerId self, IPAddress source)
    {
        var peers = new List<MdnsPeer>();
        if (!response.IsResponse || response.Opcode != 0 || response.ResponseCode != 0) return peers;
        bool acceptLoopback = options.IncludeLoopback && IPAddress.IsLoopback(source);
        var instances = new List<string>();
        foreach (var record in response.Answers.Concat(response.Additionals))
        {
            if (record.Type != DnsRecordType.Ptr || record.Data is not DnsPtrData ptr || record.Ttl == 0) continue;
            if (!DnsName.Equal(record.Name, options.ServiceName) || DnsName.Equal(ptr.Target, ownInstance)) continue;
            if (instances.Exists(i => DnsName.Equal(i, ptr.Target))) continue;
            if (instances.Count == options.MaxPeersPerPacket) break;
            instances.Add(ptr.Target);
        }
        foreach (var instance in instances)
        {
            var byPeer = new Dictionary<PeerId, List<Multiaddr>>();
            foreach (var record in response.Answers.Concat(response.Additionals))
            {
                if (record.Data is not DnsTxtData txt || record.Ttl == 0 || !DnsName.Equal(record.Name, instance)) continue;
                foreach (var text in txt.Strings)
                {
                    if (!TryParseDnsAddr(text, out var address, out var peer)) continue;
                    if (peer == self || (IsLoopback(address) && !acceptLoopback)) continue;
                    if (!byPeer.TryGetValue(peer, out var list))
                    {
                        if (byPeer.Count + peers.Count >= options.MaxPeersPerPacket) continue;
                        byPeer[peer] = list = [];
                    }
                    if (list.Count < options.MaxAddressesPerPeer && !list.Contains(address)) list.Add(address);
                }
            }
            peers.AddRange(byPeer.Select(p => new MdnsPeer(p.Key, p.Value)));
        }
        return peers;
    }

    /// <summary>Parses <c>dnsaddr=&lt;multiaddr&gt;</c> whose last component is /p2p; returns the address without it.</summary>
    public static bool TryParseDnsAddr(byte[] text, out Multiaddr address, out PeerId peer)
    {
        address = Multiaddr.Empty;
        peer = null!;
        if (!text.AsSpan().StartsWith(DnsAddrPrefix)) return false;
        try
        {
            var full = Multiaddr.Parse(StrictUtf8.GetString(text, DnsAddrPrefix.Length, text.Length - DnsAddrPrefix.Length));
            var components = full.Components;
            if (components.Count < 2 || components[^1].Protocol != MultiaddrProtocols.P2P) return false;
            peer = full.GetPeerId()!;
            address = full.DecapsulateCode(MultiaddrProtocols.P2P.Code);
            return !address.Has(MultiaddrProtocols.P2P.Code); // one peer per address: no relayed /p2p/.../p2p-circuit
        }
        catch (Exception e) when (e is P2PFormatException or DecoderFallbackException)
        {
            return false;
        }
    }

    /// <summary>
    /// Whether <paramref name="address"/> is on the network the answer came from: the sender's own IP, or an IP in the
    /// same /24 (IPv4) or /64 (IPv6). DNS names and other families are not.
    /// </summary>
    public static bool OnSourceNetwork(Multiaddr address, IPAddress source)
    {
        if (address.GetIPAddress() is not { } ip) return false;
        if (source.IsIPv4MappedToIPv6) source = source.MapToIPv4();
        if (ip.IsIPv4MappedToIPv6) ip = ip.MapToIPv4();
        if (ip.AddressFamily != source.AddressFamily) return false;
        if (ip.Equals(source)) return true;
        int prefixBytes = ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? 3 : 8;
        return ip.GetAddressBytes().AsSpan(0, prefixBytes).SequenceEqual(source.GetAddressBytes().AsSpan(0, prefixBytes));
    }

    private static bool IsLoopback(Multiaddr address) => address.GetIPAddress() is { } ip && IPAddress.IsLoopback(ip);
}
