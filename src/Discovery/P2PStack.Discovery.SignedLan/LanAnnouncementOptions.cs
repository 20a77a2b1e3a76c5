using System.Net;

namespace P2PStack.Discovery.SignedLan;

/// <summary>Signed LAN announcements (docs/specs/lan-announce.md): where they go, how often, and what is accepted.</summary>
public sealed class LanAnnouncementOptions
{
    /// <summary>IPv4 multicast group the announcements are sent to and received on.</summary>
    public IPAddress Group { get; set; } = IPAddress.Parse("239.255.70.77");

    /// <summary>UDP port of the group (and of the receiving socket; 0 picks one, for unicast-only use).</summary>
    public int Port { get; set; } = 6767;

    /// <summary>Join and send to the multicast group (off: only <see cref="Targets"/> are used).</summary>
    public bool Multicast { get; set; } = true;

    /// <summary>Address the receiving socket binds (any by default).</summary>
    public IPAddress BindAddress { get; set; } = IPAddress.Any;

    /// <summary>Extra unicast destinations, e.g. hosts on a network without multicast.</summary>
    public List<IPEndPoint> Targets { get; } = [];

    /// <summary>How often this node announces itself (a fresh record, a new sequence number, each time).</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How far a record's sequence number (its signing time, Unix nanoseconds) may be from our clock.</summary>
    public TimeSpan TimeWindow { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Largest datagram sent or accepted.</summary>
    public int MaxDatagramSize { get; set; } = 2048;

    /// <summary>Most addresses announced or taken from one announcement.</summary>
    public int MaxAddresses { get; set; } = 16;

    /// <summary>Peers whose last sequence number is remembered at once (announcements of more are ignored until
    /// older entries leave the time window).</summary>
    public int MaxTrackedPeers { get; set; } = 1024;

    /// <summary>How long announced addresses stay in the peer store.</summary>
    public TimeSpan PeerAddressTtl { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Dial newly announced peers (so identify and the DHT learn them).</summary>
    public bool DialDiscovered { get; set; } = true;

    /// <summary>Budget of one such dial.</summary>
    public TimeSpan DialTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Announce loopback addresses (tests on one machine).</summary>
    public bool IncludeLoopback { get; set; }

    public void Validate()
    {
        if (Multicast && !IsMulticast(Group)) throw new ArgumentException($"{Group} is not an IPv4 multicast group");
        if (Port is < 0 or > 65535) throw new ArgumentException("Port must be 0..65535");
        if (Interval <= TimeSpan.Zero || TimeWindow <= TimeSpan.Zero || DialTimeout <= TimeSpan.Zero || PeerAddressTtl <= TimeSpan.Zero)
            throw new ArgumentException("intervals, windows and timeouts must be positive");
        if (MaxDatagramSize is < 512 or > 65_507) throw new ArgumentException("MaxDatagramSize must be 512..65507");
        if (MaxAddresses < 1 || MaxTrackedPeers < 1) throw new ArgumentException("limits must be positive");
    }

    private static bool IsMulticast(IPAddress address) =>
        address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && (address.GetAddressBytes()[0] & 0xF0) == 0xE0;
}
