using P2PStack.Identity;

namespace P2PStack.Security.Noise;

/// <summary>
/// The remote identities whose handshake signature this host has verified: identity key, Noise static key and
/// signature, byte for byte. A peer that keeps its static key (our nodes for <see cref="NoiseOptions.StaticKeyLifetime"/>,
/// go-, js- and rust-libp2p for their process) sends the same three on every connection, and the Ed25519 verification
/// of the same bytes gives the same answer; an entry is used only when all three are identical, so any other payload
/// is verified. The handshake itself still proves that the remote holds the static key (es / se). At most
/// <see cref="NoiseOptions.VerifiedPayloadCacheSize"/> entries, the oldest evicted first; keys are hashed with the
/// process's randomised <see cref="HashCode"/>, so a remote cannot aim at one bucket.
/// </summary>
internal sealed class VerifiedPayloadCache
{
    private readonly object _lock = new();
    private readonly Dictionary<byte[], (PublicKey Key, PeerId PeerId)> _entries = new(BytesComparer.Instance);
    private readonly Queue<byte[]> _order = new();

    internal int Count
    {
        get
        {
            lock (_lock) return _entries.Count;
        }
    }

    public bool TryGet(ReadOnlySpan<byte> identityKey, ReadOnlySpan<byte> staticKey, ReadOnlySpan<byte> signature, int capacity,
        out PublicKey key, out PeerId peerId)
    {
        key = null!;
        peerId = null!;
        if (capacity == 0)
        {
            return false;
        }

        byte[] lookup = Concat(identityKey, staticKey, signature);
        lock (_lock)
        {
            if (_entries.TryGetValue(lookup, out var entry))
            {
                (key, peerId) = entry;
                return true;
            }
        }

        return false;
    }

    public void Add(ReadOnlySpan<byte> identityKey, ReadOnlySpan<byte> staticKey, ReadOnlySpan<byte> signature, int capacity,
        PublicKey key, PeerId peerId)
    {
        if (capacity == 0)
        {
            return;
        }

        byte[] entryKey = Concat(identityKey, staticKey, signature);
        lock (_lock)
        {
            if (_entries.ContainsKey(entryKey))
            {
                return;
            }

            while (_entries.Count >= capacity && _order.TryDequeue(out var oldest))
            {
                _entries.Remove(oldest);
            }

            _entries[entryKey] = (key, peerId);
            _order.Enqueue(entryKey);
        }
    }

    // Lengths first, so that no two different triples concatenate to the same bytes.
    private static byte[] Concat(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, ReadOnlySpan<byte> c)
    {
        var bytes = new byte[12 + a.Length + b.Length + c.Length];
        var span = bytes.AsSpan();
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(span, a.Length);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(span[4..], b.Length);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(span[8..], c.Length);
        a.CopyTo(span[12..]);
        b.CopyTo(span[(12 + a.Length)..]);
        c.CopyTo(span[(12 + a.Length + b.Length)..]);
        return bytes;
    }

    private sealed class BytesComparer : IEqualityComparer<byte[]>
    {
        public static readonly BytesComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] bytes)
        {
            var hash = new HashCode();
            hash.AddBytes(bytes);
            return hash.ToHashCode();
        }
    }
}
