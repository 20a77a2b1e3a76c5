using System.Collections.Concurrent;
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
    private readonly ConcurrentDictionary<Multiaddr, ConcurrentDictionary<string, DateTimeOffset>> _observations = new();
    private readonly TimeSpan _ttl = ttl ?? TimeSpan.FromMinutes(30);
    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;

    /// <summary>Records that a peer connected from <paramref name="observerAddress"/> saw us at <paramref name="observed"/>.</summary>
    public void Record(Multiaddr observed, Multiaddr observerAddress)
    {
        var now = _time.GetUtcNow();
        Prune(now);
        if (!_observations.ContainsKey(observed) && _observations.Count >= maxAddresses) return;
        var observers = _observations.GetOrAdd(observed, _ => new());
        string group = ObserverGroup(observerAddress);
        // Past the bound an address is confirmed many times over: refresh known observers, add no more.
        if (observers.Count >= maxObserversPerAddress && !observers.ContainsKey(group)) return;
        observers[group] = now;
    }

    /// <summary>Unexpired observed addresses confirmed from at least <paramref name="minObservers"/> distinct networks,
    /// most confirmed first.</summary>
    public IReadOnlyList<(Multiaddr Address, int Observers)> Get(int minObservers = 1)
    {
        Prune(_time.GetUtcNow());
        return [.. _observations.Select(o => (o.Key, o.Value.Count)).Where(o => o.Count >= minObservers).OrderByDescending(o => o.Count)];
    }

    private void Prune(DateTimeOffset now)
    {
        foreach (var (address, observers) in _observations)
        {
            foreach (var (group, seen) in observers)
            {
                if (now - seen > _ttl) observers.TryRemove(group, out _);
            }
            if (observers.IsEmpty) _observations.TryRemove(address, out _);
        }
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
