using P2PStack.Protocols.Kademlia;

namespace P2PStack.Privacy.ShadowAddresses.Directory;

/// <summary>How <see cref="ShadowDirectory"/> reaches the DHT: one put or get of a descriptor record.</summary>
public interface IShadowDhtAccess
{
    /// <summary>"circuits" or "direct" (status output and logs).</summary>
    string Name { get; }

    /// <summary>Waits, at most <paramref name="timeout"/>, until the DHT can be asked this way (over circuits: the onion
    /// directory lists enough relays for a circuit); completes at once when it can.</summary>
    /// <exception cref="P2PStack.Privacy.Onion.Client.NoPathException">Not ready within <paramref name="timeout"/>.</exception>
    Task WaitReadyAsync(TimeSpan timeout, CancellationToken cancellationToken);

    /// <summary>Stores the record on the peers closest to its key; returns how many stored it.</summary>
    Task<int> PutAsync(byte[] key, byte[] value, CancellationToken cancellationToken);

    /// <summary>The best valid value of the key.</summary>
    /// <exception cref="DhtNotFoundException">No peer holds a valid value.</exception>
    Task<byte[]> GetAsync(byte[] key, CancellationToken cancellationToken);
}

/// <summary>
/// The DHT under this node's own identity, over its own connections: the peers asked and the storing peers learn the
/// node's peer id and address (docs/specs/shadow.md, section 5.1). Used where the node has no onion client.
/// </summary>
public sealed class DirectShadowDhtAccess(KademliaDht dht) : IShadowDhtAccess
{
    public string Name => "direct";

    public Task WaitReadyAsync(TimeSpan timeout, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<int> PutAsync(byte[] key, byte[] value, CancellationToken cancellationToken) => dht.PutValueAsync(key, value, cancellationToken);

    public Task<byte[]> GetAsync(byte[] key, CancellationToken cancellationToken) => dht.GetValueAsync(key, cancellationToken);
}
