using System.Net;
using System.Net.Sockets;
using P2PStack.Addressing;
using P2PStack.Identity;

namespace P2PStack.Protocols.Kademlia;

/// <summary>Limits of the routing table's IP diversity filter (go-libp2p-kad-dht's amino defaults).</summary>
public sealed class DiversityOptions
{
    /// <summary>Whether the filter runs at all.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Most peers of one IP group in one bucket (one common prefix length).</summary>
    public int MaxPeersPerGroupPerBucket { get; set; } = 2;

    /// <summary>Most peers of one IP group in the whole table.</summary>
    public int MaxPeersPerGroup { get; set; } = 3;

    /// <summary>
    /// Loopback, private (RFC 1918, unique-local), link-local and CGNAT addresses form no group, so peers on a LAN or
    /// one machine are not limited. Non-IP addresses (memory, relays) never form a group.
    /// </summary>
    public bool ExemptNonPublicAddresses { get; set; } = true;
}

/// <summary>
/// Keeps any one network from filling the routing table (an eclipse defence): each peer belongs to the IP groups of
/// its addresses (IPv4 /16, or /8 for the legacy class-A blocks as go does; IPv6 /32) and a peer is refused when one
/// of its groups is at the per-bucket or per-table limit. Not thread-safe: the routing table calls it under its lock.
/// </summary>
public sealed class PeerDiversityFilter(DiversityOptions options)
{
    // Legacy class-A /8 allocations grouped as a whole, as go-libp2p-kbucket's peerdiversity does.
    private static readonly byte[] LegacyClassA = [12, 17, 19, 38, 48, 53, 56, 73];

    private readonly Dictionary<PeerId, (int Cpl, string[] Groups)> _peers = [];
    private readonly Dictionary<string, int> _tableCounts = [];
    private readonly Dictionary<(int Cpl, string Group), int> _bucketCounts = [];

    /// <summary>Whether a peer with these addresses may join the bucket <paramref name="cpl"/>; records it if so.</summary>
    public bool TryAdd(PeerId peer, int cpl, IEnumerable<IPAddress> addresses)
    {
        if (_peers.ContainsKey(peer)) return true;
        var groups = addresses.Select(GroupOf).OfType<string>().Distinct().ToArray();
        foreach (var group in groups)
        {
            if (_tableCounts.GetValueOrDefault(group) >= options.MaxPeersPerGroup) return false;
            if (_bucketCounts.GetValueOrDefault((cpl, group)) >= options.MaxPeersPerGroupPerBucket) return false;
        }
        foreach (var group in groups)
        {
            _tableCounts[group] = _tableCounts.GetValueOrDefault(group) + 1;
            _bucketCounts[(cpl, group)] = _bucketCounts.GetValueOrDefault((cpl, group)) + 1;
        }
        _peers[peer] = (cpl, groups);
        return true;
    }

    public void Remove(PeerId peer)
    {
        if (!_peers.Remove(peer, out var entry)) return;
        foreach (var group in entry.Groups)
        {
            Decrement(_tableCounts, group);
            Decrement(_bucketCounts, (entry.Cpl, group));
        }
    }

    /// <summary>Peers of <paramref name="group"/> in the table.</summary>
    public int CountInGroup(string group) => _tableCounts.GetValueOrDefault(group);

    /// <summary>The IP group of an address, or null when it forms none (see <see cref="DiversityOptions"/>).</summary>
    public string? GroupOf(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (options.ExemptNonPublicAddresses && !IsPublic(address)) return null;
        Span<byte> bytes = stackalloc byte[16];
        address.TryWriteBytes(bytes, out _);
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            return Array.IndexOf(LegacyClassA, bytes[0]) >= 0 ? $"ip4:{bytes[0]}.0.0.0/8" : $"ip4:{bytes[0]}.{bytes[1]}.0.0/16";
        }
        return $"ip6:{Convert.ToHexStringLower(bytes[..4])}/32";
    }

    /// <summary>Whether the address is globally routable (see <see cref="AddressScope.IsPublic(IPAddress)"/>).</summary>
    public static bool IsPublic(IPAddress address) => AddressScope.IsPublic(address);

    private static void Decrement<TKey>(Dictionary<TKey, int> counts, TKey key) where TKey : notnull
    {
        int value = counts.GetValueOrDefault(key) - 1;
        if (value <= 0) counts.Remove(key);
        else counts[key] = value;
    }
}
