using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Nat.AutoNat;

/// <summary>
/// Turns probe results into verdicts: an address is public when at least <see cref="AutoNatOptions.Confirmations"/>
/// distinct servers reached it and more reached it than failed, private in the mirror case, unknown otherwise. Each
/// server counts once per address (its latest verdict); verdicts expire. The node is public when any address is,
/// private when none is and at least one is private.
/// </summary>
public sealed class ReachabilityTracker(AutoNatOptions options, TimeProvider? timeProvider = null)
{
    private const int MaxAddresses = 64;
    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;
    private readonly Dictionary<Multiaddr, Dictionary<PeerId, (bool Reachable, DateTimeOffset At)>> _results = [];

    /// <summary>Records a probe; returns whether the node's or an address's verdict changed.</summary>
    public bool Record(AutoNatProbeResult result)
    {
        lock (_results)
        {
            var before = Snapshot();
            var now = _time.GetUtcNow();
            // v2 names the one address tested; a v1 success names the one that worked, a v1 failure covers all it was given.
            IEnumerable<Multiaddr> addresses = result.Address is { } one ? [one] : result.Tested;
            foreach (var address in addresses)
            {
                var key = address.GetPeerId() is null ? address : address.DecapsulateCode(MultiaddrProtocols.P2P.Code);
                if (!_results.TryGetValue(key, out var servers))
                {
                    if (_results.Count >= MaxAddresses) continue;
                    _results[key] = servers = [];
                }
                servers[result.Server] = (result.Reachable, now);
            }
            return !Same(before, Snapshot());
        }
    }

    /// <summary>The verdict per address.</summary>
    public IReadOnlyDictionary<Multiaddr, Reachability> Addresses
    {
        get
        {
            lock (_results) return Snapshot();
        }
    }

    /// <summary>The node's verdict.</summary>
    public Reachability Node
    {
        get
        {
            var verdicts = Addresses.Values;
            if (verdicts.Contains(Reachability.Public)) return Reachability.Public;
            return verdicts.Contains(Reachability.Private) ? Reachability.Private : Reachability.Unknown;
        }
    }

    private Dictionary<Multiaddr, Reachability> Snapshot()
    {
        var now = _time.GetUtcNow();
        var verdicts = new Dictionary<Multiaddr, Reachability>();
        foreach (var (address, servers) in _results)
        {
            foreach (var server in servers.Where(s => now - s.Value.At > options.ResultTtl).Select(s => s.Key).ToList()) servers.Remove(server);
            int yes = servers.Values.Count(v => v.Reachable);
            int no = servers.Count - yes;
            verdicts[address] = yes >= options.Confirmations && yes > no ? Reachability.Public
                : no >= options.Confirmations && no > yes ? Reachability.Private
                : Reachability.Unknown;
        }
        return verdicts;
    }

    /// <summary>Equal verdicts, an address without one counting as unknown.</summary>
    private static bool Same(Dictionary<Multiaddr, Reachability> a, Dictionary<Multiaddr, Reachability> b) =>
        a.Keys.Union(b.Keys).All(k => a.GetValueOrDefault(k) == b.GetValueOrDefault(k));
}
