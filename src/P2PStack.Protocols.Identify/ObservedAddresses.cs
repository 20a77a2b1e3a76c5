using System.Collections.Concurrent;
using P2PStack.Addressing;
using P2PStack.Identity;

namespace P2PStack.Protocols.Identify;

/// <summary>
/// The addresses other peers report seeing us at. An address counts once several distinct peers confirm it, so a
/// single peer cannot make us announce an address of its choosing.
/// </summary>
public sealed class ObservedAddresses(int maxAddresses = 64)
{
    private readonly ConcurrentDictionary<Multiaddr, ConcurrentDictionary<PeerId, DateTimeOffset>> _observations = new();

    public void Record(Multiaddr observed, PeerId observer)
    {
        if (!_observations.ContainsKey(observed) && _observations.Count >= maxAddresses) return;
        _observations.GetOrAdd(observed, _ => new()).AddOrUpdate(observer, DateTimeOffset.UtcNow, (_, _) => DateTimeOffset.UtcNow);
    }

    /// <summary>Observed addresses confirmed by at least <paramref name="minObservers"/> distinct peers, most confirmed first.</summary>
    public IReadOnlyList<(Multiaddr Address, int Observers)> Get(int minObservers = 1) =>
        [.. _observations.Select(o => (o.Key, o.Value.Count)).Where(o => o.Count >= minObservers).OrderByDescending(o => o.Count)];
}
