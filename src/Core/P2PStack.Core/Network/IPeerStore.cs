using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Records;

namespace P2PStack.Network;

/// <summary>
/// What this node knows of other peers: addresses (with expiry), protocols, public keys, latency, metadata and
/// their latest signed peer record. In memory for library use; the node keeps it in SQLite.
/// </summary>
public interface IPeerStore
{
    IReadOnlyCollection<PeerId> Peers { get; }

    /// <summary>Adds addresses (or extends their expiry). A store keeps a bounded number per peer
    /// (<see cref="PeerStoreDefaults.MaxAddressesPerPeer"/> by default), dropping the ones that expire soonest.</summary>
    void AddAddresses(PeerId peer, IEnumerable<Multiaddr> addresses, TimeSpan ttl);

    /// <summary>Replaces the addresses of a peer (e.g. from a newer signed record).</summary>
    void SetAddresses(PeerId peer, IEnumerable<Multiaddr> addresses, TimeSpan ttl);

    /// <summary>Unexpired addresses, most recently confirmed first.</summary>
    IReadOnlyList<Multiaddr> GetAddresses(PeerId peer);

    void SetProtocols(PeerId peer, IEnumerable<string> protocols);

    IReadOnlyList<string> GetProtocols(PeerId peer);

    /// <summary>Stores the key after checking it matches the peer id.</summary>
    void AddPublicKey(PeerId peer, PublicKey key);

    PublicKey? GetPublicKey(PeerId peer);

    /// <summary>Adds a round-trip sample to the peer's latency statistics.</summary>
    void RecordLatency(PeerId peer, TimeSpan rtt);

    LatencyStats? GetLatency(PeerId peer);

    void SetMetadata(PeerId peer, string key, string value);

    string? GetMetadata(PeerId peer, string key);

    /// <summary>Keeps the record if its sequence number is newer than the stored one; returns whether it did.</summary>
    bool ConsumePeerRecord(SignedEnvelope envelope, PeerRecord record, TimeSpan ttl);

    SignedEnvelope? GetPeerRecord(PeerId peer);

    void RemovePeer(PeerId peer);
}

/// <summary>Limits every peer store applies by default.</summary>
public static class PeerStoreDefaults
{
    /// <summary>Addresses kept per peer; beyond it the ones expiring soonest are dropped, so a peer announcing ever new
    /// addresses (identify push, DHT answers) cannot grow the store without bound.</summary>
    public const int MaxAddressesPerPeer = 256;

    /// <summary>Peers kept; beyond it the least recently written tenth is forgotten, so answers naming ever new peers
    /// (each Kad response names up to 20, identities are free) cannot grow the store without bound.</summary>
    public const int MaxPeers = 10_000;

    /// <summary>A peer none of whose addresses is still valid is forgotten once nothing was written about it for this
    /// long (the sweep).</summary>
    public static readonly TimeSpan PeerRetention = TimeSpan.FromDays(1);

    /// <summary>Least time between two sweeps; a sweep runs on a write once this much time has passed.</summary>
    public static readonly TimeSpan SweepInterval = TimeSpan.FromMinutes(10);
}

/// <summary>Round-trip statistics of one peer (current, min, max, exponentially weighted average).</summary>
public sealed record LatencyStats(TimeSpan Current, TimeSpan Min, TimeSpan Max, TimeSpan Average, long Samples);
