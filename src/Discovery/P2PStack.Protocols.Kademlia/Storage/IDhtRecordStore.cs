using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Protocols.Kademlia.Storage;

/// <summary>A value record as stored: key, value, when this node received it (the spec's timeReceived) and the peer
/// that stored it here (null for this node's own records), against whose quota it counts.</summary>
public sealed record DhtRecord(byte[] Key, byte[] Value, DateTimeOffset TimeReceived, PeerId? Publisher = null);

/// <summary>Limits every record store enforces (from <see cref="KademliaOptions"/>).</summary>
public sealed class RecordStoreLimits
{
    /// <summary>Longest record key accepted.</summary>
    public int MaxKeyLength { get; set; } = 512;

    /// <summary>Largest record value accepted (IPNS records are at most 10 KiB).</summary>
    public int MaxValueLength { get; set; } = 64 * 1024;

    /// <summary>Most records held. When full, this node's own records displace records other peers stored (from the
    /// peer holding the most, its oldest first); other peers' records are refused.</summary>
    public int MaxRecords { get; set; } = 100_000;

    /// <summary>Most records one remote peer may have stored here (keys are free, e.g. /pk records of throwaway keys),
    /// so one peer cannot fill the store.</summary>
    public int MaxRecordsPerPeer { get; set; } = 1_000;

    /// <summary>Most key and value bytes held in total.</summary>
    public long MaxTotalBytes { get; set; } = 256L * 1024 * 1024;
}

/// <summary>Where the DHT keeps value records (PUT_VALUE / GET_VALUE). In memory by default.</summary>
public interface IDhtRecordStore
{
    /// <summary>The record under <paramref name="key"/>, or null.</summary>
    ValueTask<DhtRecord?> GetAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken);

    /// <summary>Stores or replaces the record under its key.</summary>
    /// <exception cref="DhtStoreLimitException">A size or count limit (in all, or the publisher's quota) would be exceeded.</exception>
    /// <exception cref="ResourceLimitExceededException">The resource manager refused the record's memory (stores in memory).</exception>
    ValueTask PutAsync(DhtRecord record, CancellationToken cancellationToken);

    ValueTask<bool> RemoveAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken);

    /// <summary>Removes records received before <paramref name="receivedBefore"/>; returns how many.</summary>
    ValueTask<int> RemoveExpiredAsync(DateTimeOffset receivedBefore, CancellationToken cancellationToken);

    ValueTask<int> CountAsync(CancellationToken cancellationToken);
}
