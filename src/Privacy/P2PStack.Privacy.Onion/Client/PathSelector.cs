using System.Security.Cryptography;
using P2PStack.Identity;
using P2PStack.Privacy.Onion.Directory;

namespace P2PStack.Privacy.Onion.Client;

/// <summary>No path satisfies the request with the relays known (too few relays, no exit for the destination, the
/// diversity rules).</summary>
public sealed class NoPathException(string message) : CircuitException(DestroyReason.None, message);

/// <summary>
/// Chooses the relays of a path (docs/specs/onion.md, "Path selection"): the exit first (a relay whose policy allows
/// the destination), then the first hop, then the middle ones; each weighted by advertised bandwidth, with a secure
/// random source. Never the destination, this node or an excluded relay; all distinct; and, with the diversity rules
/// on, no two in one IPv4 /16 or IPv6 /32 (by default) or one declared family. Pinned relays keep their positions and
/// are exempt from the diversity rules among themselves (the caller chose them), not from the others.
/// </summary>
internal sealed class PathSelector(PathDiversityOptions diversity, Func<int, int>? random = null)
{
    private readonly Func<int, int> _random = random ?? RandomNumberGenerator.GetInt32;

    /// <summary>A path of <paramref name="hops"/> relays.</summary>
    /// <param name="pinned">Relays for the first positions, in order.</param>
    /// <param name="destination">Where the circuit's streams go (null for a circuit kept ready for any destination:
    /// the exit must then allow every destination).</param>
    /// <param name="last">The relay for the last position (an introduction point, not used as an exit), or null.</param>
    public IReadOnlyList<RelayInfo> Select(IReadOnlyList<RelayInfo> relays, int hops, IReadOnlyList<RelayInfo> pinned,
        PeerId? destination, PeerId self, IReadOnlySet<PeerId> excluded, RelayInfo? last = null)
    {
        if (hops < 1) throw new ArgumentOutOfRangeException(nameof(hops));
        if (pinned.Count > hops) throw new ArgumentException("more pinned relays than hops", nameof(pinned));
        var path = new RelayInfo?[hops];
        for (int i = 0; i < pinned.Count; i++)
        {
            if (IsForbidden(pinned[i].Peer, destination, self, excluded))
                throw new NoPathException($"pinned relay {pinned[i].Peer} is the destination, this node or excluded");
            path[i] = pinned[i];
        }
        var candidates = relays.Where(r => !IsForbidden(r.Peer, destination, self, excluded)).ToList();
        int exit = hops - 1;
        if (last is not null)
        {
            if (pinned.Count == hops) throw new ArgumentException("a pinned last relay and a fully pinned path", nameof(last));
            if (IsForbidden(last.Peer, destination, self, excluded) || pinned.Any(p => p.Peer.Equals(last.Peer)))
                throw new NoPathException($"the last relay {last.Peer} is this node, excluded or already on the path");
            path[exit] = last;
        }
        else if (path[exit] is null)
            path[exit] = Pick(candidates.Where(r => r.AllowsExitTo(destination)), path, exit)
                ?? throw new NoPathException(destination is null
                    ? "no relay known that exits to any destination"
                    : $"no relay known that exits to {destination} and fits the path");
        else if (!path[exit]!.AllowsExitTo(destination))
            throw new NoPathException($"pinned exit {path[exit]!.Peer} does not allow this destination");
        for (int i = 0; i < exit; i++)
        {
            if (path[i] is not null) continue;
            path[i] = Pick(candidates, path, i) ?? throw new NoPathException(
                $"too few relays for a {hops}-hop path ({candidates.Count} known{(diversity.Enabled ? ", with the diversity rules" : "")})");
        }
        return [.. path.Select(r => r!)];
    }

    /// <summary>Replaces the relay at <paramref name="position"/> (it failed) with another that fits the rest of the
    /// path; null when none does.</summary>
    /// <param name="lastPinned">The last relay is fixed (an introduction point): it is not an exit.</param>
    public RelayInfo? Replace(IReadOnlyList<RelayInfo> relays, IReadOnlyList<RelayInfo> path, int position, PeerId? destination,
        PeerId self, IReadOnlySet<PeerId> excluded, bool lastPinned = false)
    {
        var current = path.Select((r, i) => i == position ? null : r).ToArray();
        var candidates = relays.Where(r => !IsForbidden(r.Peer, destination, self, excluded));
        if (position == path.Count - 1 && !lastPinned) candidates = candidates.Where(r => r.AllowsExitTo(destination));
        return Pick(candidates, current, position);
    }

    private static bool IsForbidden(PeerId relay, PeerId? destination, PeerId self, IReadOnlySet<PeerId> excluded) =>
        relay.Equals(destination) || relay.Equals(self) || excluded.Contains(relay);

    // Bandwidth-weighted choice among the candidates that fit next to the relays already on the path.
    private RelayInfo? Pick(IEnumerable<RelayInfo> candidates, RelayInfo?[] path, int position)
    {
        var fitting = candidates.Where(c => Fits(c, path, position)).ToList();
        if (fitting.Count == 0) return null;
        long total = 0;
        var weights = new long[fitting.Count];
        for (int i = 0; i < fitting.Count; i++)
        {
            weights[i] = Math.Clamp(fitting[i].Bandwidth / 1024, 1, int.MaxValue / Math.Max(1, fitting.Count));
            total += weights[i];
        }
        long pick = _random((int)Math.Min(total, int.MaxValue));
        for (int i = 0; i < fitting.Count; i++)
        {
            if (pick < weights[i]) return fitting[i];
            pick -= weights[i];
        }
        return fitting[^1];
    }

    private bool Fits(RelayInfo candidate, RelayInfo?[] path, int position)
    {
        for (int i = 0; i < path.Length; i++)
        {
            if (i == position || path[i] is not { } other) continue;
            if (other.Peer.Equals(candidate.Peer)) return false;
            if (diversity.Enabled && Related(candidate, other)) return false;
        }
        return true;
    }

    /// <summary>Whether two relays share a network (IPv4 /16, IPv6 /32 by default) or a declared family.</summary>
    internal bool Related(RelayInfo a, RelayInfo b)
    {
        if (diversity.DistinctFamilies && a.Family is not null && a.Family == b.Family) return true;
        var networks = a.Addresses.Select(x => AddressPolicy.NetworkOf(x, diversity.IPv4PrefixLength, diversity.IPv6PrefixLength))
            .Where(n => n is not null).ToHashSet();
        return b.Addresses.Any(x => AddressPolicy.NetworkOf(x, diversity.IPv4PrefixLength, diversity.IPv6PrefixLength) is { } n && networks.Contains(n));
    }
}
