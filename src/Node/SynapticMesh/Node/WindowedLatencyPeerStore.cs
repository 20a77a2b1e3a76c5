using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Records;

namespace SynapticMesh.Node;

/// <summary>
/// The node's peer store: the configured one (SQLite), with every latency sample also kept in the
/// <see cref="LatencyWindow"/> so <c>status</c> can show the mean over a window beside the stored EWMA.
/// </summary>
public sealed class WindowedLatencyPeerStore(IPeerStore inner, LatencyWindow window) : IPeerStore
{
    public IReadOnlyCollection<PeerId> Peers => inner.Peers;

    public void RecordLatency(PeerId peer, TimeSpan rtt)
    {
        inner.RecordLatency(peer, rtt);
        window.Record(peer, rtt);
    }

    public void RemovePeer(PeerId peer)
    {
        inner.RemovePeer(peer);
        window.Forget(peer);
    }

    public LatencyStats? GetLatency(PeerId peer) => inner.GetLatency(peer);

    public void AddAddresses(PeerId peer, IEnumerable<Multiaddr> addresses, TimeSpan ttl) => inner.AddAddresses(peer, addresses, ttl);

    public void SetAddresses(PeerId peer, IEnumerable<Multiaddr> addresses, TimeSpan ttl) => inner.SetAddresses(peer, addresses, ttl);

    public IReadOnlyList<Multiaddr> GetAddresses(PeerId peer) => inner.GetAddresses(peer);

    public void SetProtocols(PeerId peer, IEnumerable<string> protocols) => inner.SetProtocols(peer, protocols);

    public IReadOnlyList<string> GetProtocols(PeerId peer) => inner.GetProtocols(peer);

    public void AddPublicKey(PeerId peer, PublicKey key) => inner.AddPublicKey(peer, key);

    public PublicKey? GetPublicKey(PeerId peer) => inner.GetPublicKey(peer);

    public void SetMetadata(PeerId peer, string key, string value) => inner.SetMetadata(peer, key, value);

    public string? GetMetadata(PeerId peer, string key) => inner.GetMetadata(peer, key);

    public bool ConsumePeerRecord(SignedEnvelope envelope, PeerRecord record, TimeSpan ttl) => inner.ConsumePeerRecord(envelope, record, ttl);

    public SignedEnvelope? GetPeerRecord(PeerId peer) => inner.GetPeerRecord(peer);
}
