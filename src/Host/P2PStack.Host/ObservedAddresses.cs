using P2PStack.Addressing;

namespace P2PStack.Host;

/// <summary>
/// The addresses other peers report seeing us at. Confirmations count per observer network (/16 for IPv4, /56 for
/// IPv6, as go-libp2p groups them), not per peer id, so one host with many identities counts once; observations expire,
/// and the number of addresses tracked is bounded.
/// </summary>
internal sealed class ObservedAddresses(int maxAddresses = 64, TimeSpan? ttl = null, TimeProvider? timeProvider = null,
    int maxObserversPerAddress = 64)
{
    // One lock, not concurrent dictionaries: a prune that removed an address whose observer set was still empty lost the
    // observation a concurrent Record was adding to that set (a node then never learned its address from its relay).
    private readonly Lock _gate = new();
    private readonly Dictionary<Multiaddr, Dictionary<string, DateTimeOffset>> _observations = [];
    private readonly TimeSpan _ttl = ttl ?? TimeSpan.FromMinutes(30);
    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;

    /// <summary>Records that a peer connected from <paramref name="observerAddress"/> saw us at <paramref name="observed"/>.</summary>
    public void Record(Multiaddr observed, Multiaddr observerAddress)
    {
        string group = ObserverGroup(observerAddress);
        lock (_gate)
        {
            var now = _time.GetUtcNow();
            Prune(now);
            if (!_observations.TryGetValue(observed, out var observers))
            {
                if (_observations.Count >= maxAddresses) return;
                _observations[observed] = observers = [];
            }
            // Past the bound an address is confirmed many times over: refresh known observers, add no more.
            if (observers.Count >= maxObserversPerAddress && !observers.ContainsKey(group)) return;
            observers[group] = now;
        }
    }

    /// <summary>Unexpired observed addresses confirmed from at least <paramref name="minObservers"/> distinct networks,
    /// most confirmed first.</summary>
    public IReadOnlyList<(Multiaddr Address, int Observers)> Get(int minObservers = 1)
    {
        lock (_gate)
        {
            Prune(_time.GetUtcNow());
            return [.. _observations.Select(o => (o.Key, o.Value.Count)).Where(o => o.Count >= minObservers).OrderByDescending(o => o.Count)];
        }
    }

    private void Prune(DateTimeOffset now)
    {
        List<Multiaddr>? empty = null;
        foreach (var (address, observers) in _observations)
        {
            foreach (var (group, seen) in observers)
            {
                if (now - seen > _ttl) observers.Remove(group);
            }
            if (observers.Count == 0) (empty ??= []).Add(address);
        }
        if (empty is null) return;
        foreach (var address in empty) _observations.Remove(address);
    }

    internal static string ObserverGroup(Multiaddr observerAddress)
    {
        var ip = observerAddress.GetIPAddress();
        if (ip is null) return observerAddress.ToString();
        if (ip.IsIPv4MappedToIPv6) ip = ip.MapToIPv4();
        byte[] bytes = ip.GetAddressBytes();
        int keep = bytes.Length == 4 ? 2 : 7; // /16 or /56
        return Convert.ToHexString(bytes, 0, keep);
    }
}
