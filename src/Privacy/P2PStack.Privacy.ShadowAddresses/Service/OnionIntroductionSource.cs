using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Network;
using P2PStack.Privacy.Onion;
using P2PStack.Privacy.Onion.Directory;

namespace P2PStack.Privacy.ShadowAddresses.Service;

/// <summary>
/// Introduction points from the onion relay directory (docs/specs/shadow.md, section 5): per address
/// <see cref="ShadowPublisherOptions.IntroductionPoints"/> distinct relays, chosen at random among the verified relays,
/// diverse by the onion path-diversity rules (no two in one IPv4 /16 or IPv6 /32, no shared family; off when the onion
/// client's diversity is off), each with a fresh random auth key. A choice is kept while its relays stay in the
/// directory; a relay that left is replaced.
/// </summary>
public sealed class OnionIntroductionSource(RelayDirectory directory, IOptions<OnionOptions> onion, IOptions<ShadowPublisherOptions> options,
    ILocalIdentity self) : IShadowIntroductionSource
{
    private readonly ConcurrentDictionary<ShadowAddress, IntroductionPoint[]> _chosen = new();
    private readonly Lock _gate = new();

    public ValueTask<ShadowDescriptorContent> GetAsync(ShadowAddress address, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(address);
        // One choice at a time: the publisher and the introductions ask concurrently and must see the same points.
        lock (_gate) return ValueTask.FromResult(Choose(address));
    }

    private ShadowDescriptorContent Choose(ShadowAddress address)
    {
        int wanted = Math.Clamp(options.Value.IntroductionPoints, 1, ShadowDescriptor.MaxIntroductionPoints);
        var relays = directory.Relays.Where(r => !r.Peer.Equals(self.PeerId)).ToList();
        var kept = _chosen.TryGetValue(address, out var previous)
            ? previous.Where(p => relays.Any(r => r.Peer.Equals(p.Relay))).ToList()
            : [];
        var keptRelays = relays.Where(r => kept.Any(p => p.Relay.Equals(r.Peer))).ToList();
        var candidates = relays.Where(r => !kept.Any(p => p.Relay.Equals(r.Peer))).ToList();
        while (kept.Count < wanted && candidates.Count > 0)
        {
            var pick = candidates[RandomNumberGenerator.GetInt32(candidates.Count)];
            candidates.Remove(pick);
            if (keptRelays.Any(k => Related(pick, k))) continue;
            keptRelays.Add(pick);
            kept.Add(new IntroductionPoint(pick.Peer, [.. Dialable(pick.Addresses).Take(ShadowDescriptor.MaxAddressesPerPoint)],
                RandomNumberGenerator.GetBytes(ShadowDescriptor.AuthKeySize)));
        }
        if (kept.Count == 0) throw new ShadowIntroductionUnavailableException("no onion relay known yet to introduce the service");
        _chosen[address] = [.. kept];
        return new ShadowDescriptorContent(kept);
    }

    // Where a client can reach the relay directly: not its /p2p-onion listen address (a client that runs no onion
    // module could not even decode it).
    private static IEnumerable<Multiaddr> Dialable(IEnumerable<Multiaddr> addresses) =>
        addresses.Where(a => !a.Has(P2PStack.Privacy.Onion.Transport.OnionAddress.Protocol) && a.ToBytes().Length <= ShadowDescriptor.MaxAddressLength);

    public void Forget(ShadowAddress address) => _chosen.TryRemove(address, out _);

    /// <summary>Never raised: this source changes its choice only when asked (<see cref="Forget"/>) or when a relay left
    /// the directory (seen at the next <see cref="GetAsync"/>).</summary>
    public event Action<ShadowAddress>? Changed
    {
        add { }
        remove { }
    }

    // The onion path-diversity rules (docs/specs/onion.md, section 6), so one operator or network holds few points.
    private bool Related(RelayInfo a, RelayInfo b)
    {
        var rules = onion.Value.Client.Diversity;
        if (!rules.Enabled) return false;
        if (rules.DistinctFamilies && a.Family is not null && a.Family == b.Family) return true;
        var networks = a.Addresses.Select(x => NetworkOf(x, rules.IPv4PrefixLength, rules.IPv6PrefixLength)).Where(n => n is not null).ToHashSet();
        return b.Addresses.Any(x => NetworkOf(x, rules.IPv4PrefixLength, rules.IPv6PrefixLength) is { } n && networks.Contains(n));
    }

    private static string? NetworkOf(Multiaddr address, int ipv4Prefix, int ipv6Prefix)
    {
        if (address.GetIPAddress() is not { } ip) return null;
        if (ip.IsIPv4MappedToIPv6) ip = ip.MapToIPv4();
        int prefix = ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? ipv4Prefix : ipv6Prefix;
        byte[] bytes = ip.GetAddressBytes();
        for (int bit = prefix; bit < bytes.Length * 8; bit++) bytes[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        return $"{new IPAddress(bytes)}/{prefix}";
    }
}
