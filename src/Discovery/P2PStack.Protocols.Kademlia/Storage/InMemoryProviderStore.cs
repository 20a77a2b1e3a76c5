using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Protocols.Kademlia.Storage;

/// <summary>Provider records in memory, bounded by <see cref="ProviderStoreLimits"/>. Thread-safe. With a
/// <paramref name="memory"/> scope (the resource manager's <c>service kademlia</c>), each announcement's bytes are
/// reserved there while it is held and returned when it is refreshed, expires or is pushed out.</summary>
public sealed class InMemoryProviderStore(ProviderStoreLimits limits, IResourceScope? memory = null) : IProviderStore
{
    /// <summary>What a held announcement costs beyond its key and addresses (entries, record object), counted in its
    /// reservation.</summary>
    public const int EntryOverhead = 160;

    private readonly object _lock = new();
    private readonly Dictionary<byte[], Dictionary<PeerId, Entry>> _providers = new(ByteKeyComparer.Instance);
    private readonly Dictionary<PeerId, int> _keysPerProvider = [];

    public InMemoryProviderStore() : this(new ProviderStoreLimits()) { }

    /// <summary>Bytes reserved for one held announcement of <paramref name="key"/>.</summary>
    public static long Footprint(ReadOnlySpan<byte> key, ProviderRecord record) =>
        EntryOverhead + key.Length + record.Provider.Bytes.Length + record.Addresses.Sum(a => (long)a.Bytes.Length);

    public ValueTask AddProviderAsync(ReadOnlyMemory<byte> key, ProviderRecord record, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        CheckKey(key.Span, limits);
        record = Trim(record, limits);
        lock (_lock)
        {
            byte[] keyBytes = key.ToArray();
            _providers.TryGetValue(keyBytes, out var byPeer);
            if (byPeer is null || !byPeer.ContainsKey(record.Provider))
            {
                if (byPeer is null && _providers.Count >= limits.MaxKeys)
                    throw new DhtStoreLimitException($"provider store is full ({limits.MaxKeys} keys)");
                CheckProviderQuota(record.Provider, _keysPerProvider.GetValueOrDefault(record.Provider), limits);
                long bytes = Footprint(keyBytes, record);
                memory?.ReserveMemory(bytes); // refused: nothing changed yet
                if (byPeer is null) _providers[keyBytes] = byPeer = [];
                if (byPeer.Count >= limits.MaxProvidersPerKey)
                {
                    // The youngest provider (first announced last) makes room: those that kept announcing longest
                    // stay, so a wave of new identities cannot push out a key's established providers.
                    var youngest = byPeer.Values.MaxBy(e => e.FirstSeen)!;
                    byPeer.Remove(youngest.Record.Provider);
                    Forget(youngest);
                }
                _keysPerProvider[record.Provider] = _keysPerProvider.GetValueOrDefault(record.Provider) + 1;
                byPeer[record.Provider] = new Entry(record, record.ReceivedAt, bytes);
            }
            else
            {
                var held = byPeer[record.Provider];
                long bytes = Footprint(keyBytes, record);
                if (bytes > held.Bytes) memory?.ReserveMemory(bytes - held.Bytes); // refused: the old announcement stays
                else memory?.ReleaseMemory(held.Bytes - bytes);
                byPeer[record.Provider] = held with { Record = record, Bytes = bytes }; // a refresh keeps its age
            }
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>An announcement, when its provider first announced the key (kept across refreshes), and the bytes
    /// reserved for it.</summary>
    private readonly record struct Entry(ProviderRecord Record, DateTimeOffset FirstSeen, long Bytes);

    public ValueTask<IReadOnlyList<ProviderRecord>> GetProvidersAsync(ReadOnlyMemory<byte> key, DateTimeOffset receivedAfter,
        CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (!_providers.TryGetValue(key.ToArray(), out var byPeer)) return ValueTask.FromResult<IReadOnlyList<ProviderRecord>>([]);
            IReadOnlyList<ProviderRecord> result = [.. byPeer.Values.Select(e => e.Record).Where(r => r.ReceivedAt >= receivedAfter)
                .OrderByDescending(r => r.ReceivedAt)];
            return ValueTask.FromResult(result);
        }
    }

    public ValueTask<int> RemoveExpiredAsync(DateTimeOffset receivedBefore, CancellationToken cancellationToken)
    {
        int removed = 0;
        lock (_lock)
        {
            foreach (var (key, byPeer) in _providers.ToList())
            {
                foreach (var entry in byPeer.Values.Where(e => e.Record.ReceivedAt < receivedBefore).ToList())
                {
                    byPeer.Remove(entry.Record.Provider);
                    Forget(entry);
                    removed++;
                }
                if (byPeer.Count == 0) _providers.Remove(key);
            }
        }
        return ValueTask.FromResult(removed);
    }

    private void Forget(Entry entry)
    {
        memory?.ReleaseMemory(entry.Bytes);
        var provider = entry.Record.Provider;
        int left = _keysPerProvider[provider] - 1;
        if (left == 0) _keysPerProvider.Remove(provider);
        else _keysPerProvider[provider] = left;
    }

    /// <summary>Refuses a provider's announcement of one more key when it already holds its quota.</summary>
    public static void CheckProviderQuota(PeerId provider, long keysHeld, ProviderStoreLimits limits)
    {
        if (keysHeld >= limits.MaxKeysPerProvider)
            throw new DhtStoreLimitException($"provider {provider} already announced {keysHeld} keys, the limit per provider");
    }

    /// <summary>Checks the key limits every provider store applies.</summary>
    public static void CheckKey(ReadOnlySpan<byte> key, ProviderStoreLimits limits)
    {
        if (key.Length == 0) throw new DhtStoreLimitException("provider key is empty");
        if (key.Length > limits.MaxKeyLength)
            throw new DhtStoreLimitException($"provider key is {key.Length} bytes, over the limit of {limits.MaxKeyLength}");
    }

    /// <summary>Keeps at most the configured number of addresses.</summary>
    public static ProviderRecord Trim(ProviderRecord record, ProviderStoreLimits limits) =>
        record.Addresses.Count <= limits.MaxAddressesPerProvider ? record : record with { Addresses = [.. record.Addresses.Take(limits.MaxAddressesPerProvider)] };
}
