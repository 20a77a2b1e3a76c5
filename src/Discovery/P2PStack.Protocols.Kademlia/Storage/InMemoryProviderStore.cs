using P2PStack.Identity;

namespace P2PStack.Protocols.Kademlia.Storage;

/// <summary>Provider records in memory, bounded by <see cref="ProviderStoreLimits"/>. Thread-safe.</summary>
public sealed class InMemoryProviderStore(ProviderStoreLimits limits) : IProviderStore
{
    private readonly object _lock = new();
    private readonly Dictionary<byte[], Dictionary<PeerId, ProviderRecord>> _providers = new(ByteKeyComparer.Instance);
    private readonly Dictionary<PeerId, int> _keysPerProvider = [];

    public InMemoryProviderStore() : this(new ProviderStoreLimits()) { }

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
                if (byPeer is null) _providers[keyBytes] = byPeer = [];
                if (byPeer.Count >= limits.MaxProvidersPerKey)
                {
                    var oldest = byPeer.Values.MinBy(r => r.ReceivedAt)!;
                    byPeer.Remove(oldest.Provider);
                    Forget(oldest.Provider);
                }
                _keysPerProvider[record.Provider] = _keysPerProvider.GetValueOrDefault(record.Provider) + 1;
            }
            byPeer[record.Provider] = record;
        }
        return ValueTask.CompletedTask;
    }

    public ValueTask<IReadOnlyList<ProviderRecord>> GetProvidersAsync(ReadOnlyMemory<byte> key, DateTimeOffset receivedAfter,
        CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (!_providers.TryGetValue(key.ToArray(), out var byPeer)) return ValueTask.FromResult<IReadOnlyList<ProviderRecord>>([]);
            IReadOnlyList<ProviderRecord> result = [.. byPeer.Values.Where(r => r.ReceivedAt >= receivedAfter).OrderByDescending(r => r.ReceivedAt)];
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
                foreach (var record in byPeer.Values.Where(r => r.ReceivedAt < receivedBefore).ToList())
                {
                    byPeer.Remove(record.Provider);
                    Forget(record.Provider);
                    removed++;
                }
                if (byPeer.Count == 0) _providers.Remove(key);
            }
        }
        return ValueTask.FromResult(removed);
    }

    private void Forget(PeerId provider)
    {
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
