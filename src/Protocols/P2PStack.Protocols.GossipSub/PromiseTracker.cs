using P2PStack.Identity;

namespace P2PStack.Protocols.GossipSub;

/// <summary>
/// IWANT follow-up tracking (gossipsub v1.1 spam protection): for each IWANT we send, one random requested id is a
/// promise of the advertising peer; if no peer delivers that message in time, the advertiser broke its promise.
/// </summary>
internal sealed class PromiseTracker(TimeSpan followUpTime, Random random)
{
    private readonly Dictionary<MessageId, Dictionary<PeerId, DateTimeOffset>> _promises = new();

    public int Count => _promises.Count;

    public void AddPromise(PeerId peer, IReadOnlyList<MessageId> ids, DateTimeOffset now)
    {
        if (ids.Count == 0) return;
        var id = ids[random.Next(ids.Count)];
        if (!_promises.TryGetValue(id, out var peers)) _promises[id] = peers = new Dictionary<PeerId, DateTimeOffset>();
        peers.TryAdd(peer, now + followUpTime);
    }

    /// <summary>The message arrived (or began validation, or was rejected on content): all promises for it are kept.</summary>
    public void Fulfill(MessageId id) => _promises.Remove(id);

    /// <summary>Removes expired promises and returns how many each peer broke.</summary>
    public Dictionary<PeerId, int> TakeBrokenPromises(DateTimeOffset now)
    {
        var broken = new Dictionary<PeerId, int>();
        List<MessageId>? empty = null;
        foreach (var (id, peers) in _promises)
        {
            List<PeerId>? expired = null;
            foreach (var (peer, expiry) in peers)
                if (expiry < now) (expired ??= []).Add(peer);
            if (expired is null) continue;
            foreach (var peer in expired)
            {
                peers.Remove(peer);
                broken[peer] = broken.GetValueOrDefault(peer) + 1;
            }
            if (peers.Count == 0) (empty ??= []).Add(id);
        }
        if (empty is not null) foreach (var id in empty) _promises.Remove(id);
        return broken;
    }
}
