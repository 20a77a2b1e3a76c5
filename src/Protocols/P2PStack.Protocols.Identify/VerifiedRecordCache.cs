using P2PStack.Identity;
using P2PStack.Records;

namespace P2PStack.Protocols.Identify;

/// <summary>
/// The last signed peer record each peer sent, as bytes, with the envelope and record opened from them. A peer sends
/// the same record on every new connection until its addresses change; checking its Ed25519 (or other) signature
/// again each time was a good part of identify's CPU (one verification per new connection on each side). Keyed by the
/// authenticated remote peer, so a record is reused only for the peer that sent those very bytes and whose id was
/// checked against it. Bounded: at most <see cref="IdentifyOptions.VerifiedRecordCacheSize"/> peers (the oldest entry
/// goes first) and envelopes of at most <see cref="MaxCachedEnvelope"/> bytes. Thread-safe.
/// </summary>
internal sealed class VerifiedRecordCache(int capacity)
{
    /// <summary>Larger envelopes are verified every time (an ordinary record is a few hundred bytes).</summary>
    public const int MaxCachedEnvelope = 4096;

    private readonly Lock _gate = new();
    private readonly Dictionary<PeerId, Entry> _entries = [];
    private readonly Queue<PeerId> _order = new();

    public int Count
    {
        get
        {
            lock (_gate) return _entries.Count;
        }
    }

    /// <summary>The envelope and record opened earlier from exactly these bytes sent by <paramref name="peer"/>.</summary>
    public bool TryGet(PeerId peer, ReadOnlySpan<byte> encoded, out SignedEnvelope envelope, out PeerRecord record)
    {
        lock (_gate)
        {
            if (_entries.TryGetValue(peer, out var entry) && encoded.SequenceEqual(entry.Encoded))
            {
                (envelope, record) = (entry.Envelope, entry.Record);
                return true;
            }
        }
        (envelope, record) = (null!, null!);
        return false;
    }

    /// <summary>Keeps a record whose signature was verified and whose peer id is <paramref name="peer"/>.</summary>
    public void Add(PeerId peer, ReadOnlySpan<byte> encoded, SignedEnvelope envelope, PeerRecord record)
    {
        if (capacity <= 0 || encoded.Length > MaxCachedEnvelope) return;
        var entry = new Entry(encoded.ToArray(), envelope, record);
        lock (_gate)
        {
            if (_entries.ContainsKey(peer))
            {
                _entries[peer] = entry; // a newer record replaces the old one in place
                return;
            }
            while (_entries.Count >= capacity && _order.TryDequeue(out var oldest)) _entries.Remove(oldest);
            _entries[peer] = entry;
            _order.Enqueue(peer);
        }
    }

    private sealed record Entry(byte[] Encoded, SignedEnvelope Envelope, PeerRecord Record);
}
