using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Protocols.Kademlia.Storage;

/// <summary>One peer's announcement that it provides a key, with the addresses it gave and when it arrived.</summary>
public sealed record ProviderRecord(PeerId Provider, IReadOnlyList<Multiaddr> Addresses, DateTimeOffset ReceivedAt);

/// <summary>Limits every provider store enforces (from <see cref="KademliaOptions"/>).</summary>
public sealed class ProviderStoreLimits
{
    /// <summary>Longest provider key (a multihash) accepted; go refuses keys over 80 bytes.</summary>
    public int MaxKeyLength { get; set; } = 80;

    /// <summary>Most distinct keys with providers.</summary>
    public int MaxKeys { get; set; } = 100_000;

    /// <summary>Most providers remembered per key; past it the youngest provider (the one whose first announcement of
    /// the key came last) makes room, so providers that have kept announcing longest stay.</summary>
    public int MaxProvidersPerKey { get; set; } = 64;

    /// <summary>Most keys one provider may announce; past it its announcements of further keys are refused (refreshes
    /// of its known keys still succeed), so one peer cannot fill the store with its own records.</summary>
    public int MaxKeysPerProvider { get; set; } = 10_000;

    /// <summary>Most addresses kept per provider record.</summary>
    public int MaxAddressesPerProvider { get; set; } = 16;
}

/// <summary>Where the DHT keeps provider records (ADD_PROVIDER / GET_PROVIDERS). In memory by default.</summary>
public interface IProviderStore
{
    /// <summary>Adds or refreshes the provider of <paramref name="key"/>.</summary>
    /// <exception cref="DhtStoreLimitException">The key is too long, the store holds too many keys, or the provider
    /// already announced <see cref="ProviderStoreLimits.MaxKeysPerProvider"/> keys.</exception>
    /// <exception cref="ResourceLimitExceededException">The resource manager refused the announcement's memory (stores
    /// in memory).</exception>
    ValueTask AddProviderAsync(ReadOnlyMemory<byte> key, ProviderRecord record, CancellationToken cancellationToken);

    /// <summary>Providers of <paramref name="key"/> received at or after <paramref name="receivedAfter"/>, newest first.</summary>
    ValueTask<IReadOnlyList<ProviderRecord>> GetProvidersAsync(ReadOnlyMemory<byte> key, DateTimeOffset receivedAfter,
        CancellationToken cancellationToken);

    /// <summary>Removes announcements received before <paramref name="receivedBefore"/>; returns how many.</summary>
    ValueTask<int> RemoveExpiredAsync(DateTimeOffset receivedBefore, CancellationToken cancellationToken);
}
