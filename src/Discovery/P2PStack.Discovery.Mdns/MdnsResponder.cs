using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using P2PStack.Addressing;
using P2PStack.Discovery.Mdns.Dns;
using P2PStack.Identity;

namespace P2PStack.Discovery.Mdns;

/// <summary>
/// Our side of the libp2p mDNS exchange: the query we send, and the answer to queries for the service (PTR to our
/// instance; TXT with one <c>dnsaddr=&lt;multiaddr&gt;/p2p/&lt;id&gt;</c> string per address, SRV, A and AAAA as
/// additional records, as DNS-SD and go-libp2p's zeroconf expect), the DNS-SD meta query, and direct SRV/TXT/A/AAAA
/// queries for our names (the spec's "gotchas").
/// </summary>
internal sealed class MdnsResponder
{
    public const string MetaQueryName = "_services._dns-sd._udp.local";
    private const string DnsAddrPrefix = "dnsaddr=";
    private const uint LegacyUnicastTtl = 10; // RFC 6762 §6.7
    private const string PeerNameAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";

    private readonly PeerId _self;
    private readonly MdnsOptions _options;

    public MdnsResponder(PeerId self, MdnsOptions options)
    {
        _self = self;
        _options = options;
        PeerName = options.PeerName ?? RandomPeerName();
        InstanceName = DnsName.Prepend(PeerName, options.ServiceName);
        HostName = DnsName.Prepend(PeerName, "local");
    }

    public string PeerName { get; }

    /// <summary><c>&lt;peer-name&gt;.&lt;service-name&gt;</c>: the PTR target and the owner of our TXT and SRV records.</summary>
    public string InstanceName { get; }

    /// <summary><c>&lt;peer-name&gt;.local</c>: the SRV target and the owner of our A and AAAA records.</summary>
    public string HostName { get; }

    /// <summary>As go-libp2p: random lower-case alphanumerics, 32 to 63 characters (below the 63-byte label limit).</summary>
    public static string RandomPeerName()
    {
        int length = RandomNumberGenerator.GetInt32(32, 64);
        return RandomNumberGenerator.GetString(PeerNameAlphabet, length);
    }

    public DnsMessage Query() => DnsMessage.Query(new DnsQuestion(_options.ServiceName, DnsRecordType.Ptr));

    /// <summary>
    /// The addresses worth announcing, as js-libp2p: ip4/ip6 + tcp, optionally + ws/wss, not unspecified, not IPv6
    /// link-local (useless without a zone), loopback only when allowed; without /p2p, at most the configured count.
    /// </summary>
    public static List<Multiaddr> SelectAdvertised(IEnumerable<Multiaddr> addresses, bool includeLoopback, int max)
    {
        var selected = new List<Multiaddr>();
        foreach (var raw in addresses)
        {
            var address = raw.DecapsulateCode(MultiaddrProtocols.P2P.Code);
            var components = address.Components;
            if (components.Count is < 2 or > 3) continue;
            if (components[0].Protocol != MultiaddrProtocols.Ip4 && components[0].Protocol != MultiaddrProtocols.Ip6) continue;
            if (components[1].Protocol != MultiaddrProtocols.Tcp) continue;
            if (components.Count == 3 && components[2].Protocol != MultiaddrProtocols.Ws && components[2].Protocol != MultiaddrProtocols.Wss) continue;
            var ip = components[0].ToIPAddress();
            if (ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any) || ip.IsIPv6LinkLocal) continue;
            if (IPAddress.IsLoopback(ip) && !includeLoopback) continue;
            if (!selected.Contains(address)) selected.Add(address);
            if (selected.Count == max) break;
        }
        return selected;
    }

    /// <summary>
    /// The response to <paramref name="query"/>, or null when it asks nothing we answer (or we have no addresses).
    /// A legacy unicast reply echoes the id and questions, without cache-flush bits and with short TTLs (RFC 6762 §6.7).
    /// </summary>
    public DnsMessage? Answer(DnsMessage query, IReadOnlyList<Multiaddr> advertised, bool legacyUnicast)
    {
        if (advertised.Count == 0) return null;
        var records = OurRecords(advertised);
        var answers = new List<DnsRecord>();
        bool wantsDetails = false;
        foreach (var question in query.Questions)
        {
            if (question.Class is not (DnsClass.Internet or DnsClass.Any)) continue;
            bool any = question.Type == DnsRecordType.Any;
            if (DnsName.Equal(question.Name, _options.ServiceName) && (any || question.Type == DnsRecordType.Ptr))
            {
                if (KnownAnswer(query, records.Pointer)) continue;
                AddOnce(answers, records.Pointer);
                wantsDetails = true;
            }
            else if (DnsName.Equal(question.Name, MetaQueryName) && (any || question.Type == DnsRecordType.Ptr))
            {
                AddOnce(answers, records.MetaPointer);
            }
            else if (DnsName.Equal(question.Name, InstanceName) || DnsName.Equal(question.Name, HostName))
            {
                foreach (var record in records.Details)
                {
                    if (DnsName.Equal(record.Name, question.Name) && (any || record.Type == question.Type)) AddOnce(answers, record);
                }
            }
        }
        if (answers.Count == 0) return null;
        var additionals = wantsDetails ? records.Details.Where(r => !answers.Contains(r)).ToList() : [];
        if (!legacyUnicast) return DnsMessage.Response(answers, additionals);
        static DnsRecord Legacy(DnsRecord r) => r with { CacheFlush = false, Ttl = Math.Min(r.Ttl, LegacyUnicastTtl) };
        return new DnsMessage(query.Id, DnsMessage.ResponseFlag | DnsMessage.AuthoritativeFlag, query.Questions,
            [.. answers.Select(Legacy)], [], [.. additionals.Select(Legacy)]);
    }

    private bool KnownAnswer(DnsMessage query, DnsRecord pointer)
    {
        foreach (var known in query.Answers)
        {
            if (known.Type == DnsRecordType.Ptr && known.Data is DnsPtrData ptr && DnsName.Equal(known.Name, pointer.Name)
                && DnsName.Equal(ptr.Target, InstanceName) && known.Ttl >= pointer.Ttl / 2)
                return true;
        }
        return false;
    }

    private static void AddOnce(List<DnsRecord> records, DnsRecord record)
    {
        if (!records.Contains(record)) records.Add(record);
    }

    private (DnsRecord Pointer, DnsRecord MetaPointer, List<DnsRecord> Details) OurRecords(IReadOnlyList<Multiaddr> advertised)
    {
        uint ttl = (uint)Math.Min(_options.RecordTtl.TotalSeconds, uint.MaxValue);
        var pointer = new DnsRecord(_options.ServiceName, DnsRecordType.Ptr, ttl, new DnsPtrData(InstanceName));
        var meta = new DnsRecord(MetaQueryName, DnsRecordType.Ptr, ttl, new DnsPtrData(_options.ServiceName));
        var details = new List<DnsRecord>();
        string suffix = "/p2p/" + _self;
        var strings = new List<byte[]>();
        foreach (var address in advertised)
        {
            byte[] text = System.Text.Encoding.UTF8.GetBytes(DnsAddrPrefix + address + suffix);
            if (text.Length <= 255) strings.Add(text); // a TXT string holds at most 255 bytes
        }
        // One TXT record holding every address: go's zeroconf keeps only the last TXT record of a name.
        details.Add(new DnsRecord(InstanceName, DnsRecordType.Txt, ttl, new DnsTxtData(strings), CacheFlush: true));
        int port = int.Parse(advertised[0].ValueOf(MultiaddrProtocols.Tcp.Code)!, System.Globalization.CultureInfo.InvariantCulture);
        details.Add(new DnsRecord(InstanceName, DnsRecordType.Srv, ttl, new DnsSrvData(0, 0, (ushort)port, HostName), CacheFlush: true));
        foreach (var ip in advertised.Select(a => a.GetIPAddress()!).Distinct())
        {
            var type = ip.AddressFamily == AddressFamily.InterNetwork ? DnsRecordType.A : DnsRecordType.Aaaa;
            details.Add(new DnsRecord(HostName, type, ttl, new DnsAddressData(ip), CacheFlush: true));
        }
        return (pointer, meta, details);
    }
}
