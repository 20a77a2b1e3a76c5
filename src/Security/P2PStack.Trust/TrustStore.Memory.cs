using P2PStack.Identity;

namespace P2PStack.Trust;

/// <summary>
/// What the gater asks on every connection, answered from memory: a peer's revocation (or its absence) as last read,
/// and the "last seen" a post-quantum mark last wrote. Each answer is checked against <c>PRAGMA data_version</c>, which
/// changes when another connection to the file (the command line, a second store) commits: then everything remembered
/// is dropped and read again. This store's own writes update what it remembers. At most
/// <see cref="TrustOptions.MaxTrackedPeers"/> peers of each kind are remembered (then forgotten all at once).
/// Everything here runs under <c>_gate</c>.
/// </summary>
public sealed partial class TrustStore
{
    private readonly Dictionary<PeerId, RevokedPeer?> _revocations = [];
    private readonly Dictionary<PeerId, long> _postQuantumMarks = [];
    private long _dataVersion = -1;

    private bool TryRecallRevocation(PeerId peer, out RevokedPeer? revoked)
    {
        ForgetIfChangedElsewhere();
        return _revocations.TryGetValue(peer, out revoked);
    }

    private void RememberRevocation(PeerId peer, RevokedPeer? revoked)
    {
        if (_revocations.Count >= _options.MaxTrackedPeers) _revocations.Clear();
        _revocations[peer] = revoked;
    }

    /// <summary>Whether the database holds a "last seen" for <paramref name="peer"/> newer than <paramref name="stale"/>
    /// (Unix ms), as this store last wrote or read it.</summary>
    private bool MarkedPostQuantumSince(PeerId peer, long stale)
    {
        ForgetIfChangedElsewhere();
        return _postQuantumMarks.TryGetValue(peer, out long lastSeen) && lastSeen > stale;
    }

    private void RememberPostQuantum(PeerId peer, long lastSeen)
    {
        if (_postQuantumMarks.Count >= _options.MaxTrackedPeers) _postQuantumMarks.Clear();
        _postQuantumMarks[peer] = lastSeen;
    }

    private void ForgetIfChangedElsewhere()
    {
        long version = (long)Command("PRAGMA data_version;", null).ExecuteScalar()!;
        if (version == _dataVersion) return;
        _dataVersion = version;
        _revocations.Clear();
        _postQuantumMarks.Clear();
    }
}
