using System.Net;

namespace P2PStack.Discovery.Mdns;

/// <summary>Settings of mDNS discovery (libp2p discovery/mdns.md).</summary>
public sealed class MdnsOptions
{
    /// <summary>DNS-SD service name; <c>_p2p-&lt;fingerprint&gt;._udp.local</c> keeps a private network apart.</summary>
    public string ServiceName { get; set; } = "_p2p._udp.local";

    /// <summary>The peer-name label; null means a random lower-case alphanumeric string of 32 to 63 characters.</summary>
    public string? PeerName { get; set; }

    /// <summary>Time between queries (the first goes out at start). js-libp2p's default is 10 s.</summary>
    public TimeSpan QueryInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Answer queries with our addresses; false only listens.</summary>
    public bool Broadcast { get; set; } = true;

    /// <summary>Dial discovered peers, so identify runs and protocols such as the DHT add them.</summary>
    public bool DialDiscovered { get; set; } = true;

    public TimeSpan DialTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Dials in flight at once; further discoveries wait for the next round.</summary>
    public int MaxConcurrentDials { get; set; } = 4;

    /// <summary>A peer is not dialed again (after a failure) for this long.</summary>
    public TimeSpan DialBackoff { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long discovered addresses on the answer's source network stay in the peer store unless seen again.</summary>
    public TimeSpan PeerAddressTtl { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// How long addresses an answer claims outside the network it came from (not the sender's IP, not in its /24 or
    /// /64) stay in the peer store: nobody vouches for them, so they fade unless announced again (go's TempAddrTTL).
    /// </summary>
    public TimeSpan UnmatchedAddressTtl { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>TTL of the records we send (120 s as js-libp2p and RFC 6762 §10 for host-related records).</summary>
    public TimeSpan RecordTtl { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>
    /// Advertise loopback addresses, and accept them from packets that came over loopback (never from others:
    /// a remote peer's loopback address would lead to this machine).
    /// </summary>
    public bool IncludeLoopback { get; set; }

    public bool UseIPv4 { get; set; } = true;

    public bool UseIPv6 { get; set; } = true;

    /// <summary>
    /// Names of the interfaces to join the group on (e.g. "eth0", "lo"); empty means every interface that is up
    /// and multicast-capable (loopback only with <see cref="IncludeLoopback"/>).
    /// </summary>
    public List<string> Interfaces { get; } = [];

    /// <summary>UDP port: 5353 on real networks; tests may isolate themselves with another.</summary>
    public int Port { get; set; } = 5353;

    public IPAddress IPv4Group { get; set; } = IPAddress.Parse("224.0.0.251");

    public IPAddress IPv6Group { get; set; } = IPAddress.Parse("ff02::fb");

    /// <summary>IP TTL / hop limit of what we send: 255 per RFC 6762 §11; the groups are link-local either way.</summary>
    public int MulticastTimeToLive { get; set; } = 255;

    /// <summary>Largest packet accepted or sent (RFC 6762 §17: 9000).</summary>
    public int MaxPacketSize { get; set; } = 9000;

    /// <summary>Most questions and records in a received packet.</summary>
    public int MaxRecordsPerPacket { get; set; } = 64;

    /// <summary>Most peers taken from one received packet.</summary>
    public int MaxPeersPerPacket { get; set; } = 8;

    /// <summary>Most addresses taken per discovered peer, and advertised for ourselves.</summary>
    public int MaxAddressesPerPeer { get; set; } = 32;

    /// <summary>A record set is multicast at most once per this interval (RFC 6762 §6: one second).</summary>
    public TimeSpan MinResponseInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Most peers remembered for dial backoff.</summary>
    public int MaxTrackedPeers { get; set; } = 1024;

    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(ServiceName)) throw new ArgumentException("ServiceName is empty");
        Dns.DnsName.ToLabels(ServiceName);
        if (PeerName is not null && (PeerName.Length is 0 or > 63 || PeerName.Contains('.')))
            throw new ArgumentException("PeerName must be one DNS label of 1..63 characters");
        Positive(QueryInterval, nameof(QueryInterval));
        Positive(DialTimeout, nameof(DialTimeout));
        Positive(PeerAddressTtl, nameof(PeerAddressTtl));
        Positive(UnmatchedAddressTtl, nameof(UnmatchedAddressTtl));
        Positive(RecordTtl, nameof(RecordTtl));
        if (DialBackoff < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(DialBackoff));
        if (MinResponseInterval < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(MinResponseInterval));
        if (MaxConcurrentDials < 1) throw new ArgumentOutOfRangeException(nameof(MaxConcurrentDials));
        if (Port is < 1 or > 65535) throw new ArgumentOutOfRangeException(nameof(Port));
        if (MulticastTimeToLive is < 1 or > 255) throw new ArgumentOutOfRangeException(nameof(MulticastTimeToLive));
        if (MaxPacketSize is < 512 or > 65507) throw new ArgumentOutOfRangeException(nameof(MaxPacketSize));
        if (MaxRecordsPerPacket < 1) throw new ArgumentOutOfRangeException(nameof(MaxRecordsPerPacket));
        if (MaxPeersPerPacket < 1) throw new ArgumentOutOfRangeException(nameof(MaxPeersPerPacket));
        if (MaxAddressesPerPeer < 1) throw new ArgumentOutOfRangeException(nameof(MaxAddressesPerPeer));
        if (MaxTrackedPeers < 1) throw new ArgumentOutOfRangeException(nameof(MaxTrackedPeers));
        if (!UseIPv4 && !UseIPv6) throw new ArgumentException("UseIPv4 and UseIPv6 are both false");
        if (!IsMulticast(IPv4Group, false)) throw new ArgumentException("IPv4Group is not an IPv4 multicast address");
        if (!IsMulticast(IPv6Group, true)) throw new ArgumentException("IPv6Group is not an IPv6 multicast address");
    }

    internal Dns.DnsLimits Limits => new() { MaxMessageSize = MaxPacketSize, MaxRecords = MaxRecordsPerPacket, MaxTxtStrings = MaxAddressesPerPeer * 2 };

    private static void Positive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(name, "must be positive");
    }

    private static bool IsMulticast(IPAddress address, bool v6) => v6
        ? address.IsIPv6Multicast
        : address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && (address.GetAddressBytes()[0] & 0xF0) == 0xE0;
}
