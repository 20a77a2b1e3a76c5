using P2PStack.Identity;

namespace P2PStack.Security.Noise;

/// <summary>
/// The remote identities whose handshake signature this host has verified: identity key, Noise static key and
/// signature, byte for byte. A peer that keeps its static key (our nodes for <see cref="NoiseOptions.StaticKeyLifetime"/>,
/// go-, js- and rust-libp2p for their process) sends the same three on every connection, and the Ed25519 verification
/// of the same bytes gives the same answer; an entry is used only when all three are identical, so any other payload
/// is verified. The handshake itself still proves that the remote holds the static key (es / se). At most
/// <see cref="NoiseOptions.VerifiedPayloadCacheSize"/> entries, the oldest evicted first; keys are hashed with the
/// process's randomised <see cref="HashCode"/>, so a remote cannot aim at one bucket. A lookup allocates nothing: its
/// key is laid out on the stack (or in a pooled buffer when large) and looked up as a span.
/// </summary>
internal sealed class VerifiedPayloadCache
{
    // Keys laid out on the stack up to this size (an Ed25519 identity key, a static key and a signature take 144 bytes;
    // RSA or ECDSA identities may take more: those go to a pooled buffer).
    private const int StackKeyLimit = 512;

    private readonly object _lock = new();
    private readonly Dictionary<byte[], (PublicKey Key, PeerId PeerId)> _entries;
    private readonly Dictionary<byte[], (PublicKey Key, PeerId PeerId)>.AlternateLookup<ReadOnlySpan<byte>> _bySpan;
    private readonly Queue<byte[]> _order = new();

    public VerifiedPayloadCache()
    {
        _entries = new(BytesComparer.Instance);
        _bySpan = _entries.GetAlternateLookup<ReadOnlySpan<byte>>();
    }

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

        int length = KeyLength(identityKey, staticKey, signature);
        byte[]? rented = length > StackKeyLimit ? System.Buffers.ArrayPool<byte>.Shared.Rent(length) : null;
        try
        {
            Span<byte> lookup = rented is null ? stackalloc byte[StackKeyLimit] : rented;
            lookup = lookup[..length];
            Write(lookup, identityKey, staticKey, signature);
            lock (_lock)
            {
                if (_bySpan.TryGetValue(lookup, out var entry))
                {
                    (key, peerId) = entry;
                    return true;
                }
            }

            return false;
        }
        finally
        {
            if (rented is not null) System.Buffers.ArrayPool<byte>.Shared.Return(rented);
        }
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

    private static int KeyLength(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, ReadOnlySpan<byte> c) => 12 + a.Length + b.Length + c.Length;

    private static byte[] Concat(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, ReadOnlySpan<byte> c)
    {
        var bytes = new byte[KeyLength(a, b, c)];
        Write(bytes, a, b, c);
        return bytes;
    }

    // Lengths first, so that no two different triples concatenate to the same bytes.
    private static void Write(Span<byte> span, ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, ReadOnlySpan<byte> c)
    {
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(span, a.Length);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(span[4..], b.Length);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(span[8..], c.Length);
        a.CopyTo(span[12..]);
        b.CopyTo(span[(12 + a.Length)..]);
        c.CopyTo(span[(12 + a.Length + b.Length)..]);
    }

    // Compares and hashes the stored arrays and the spans looked up alike (the same bytes, the same hash).
    private sealed class BytesComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
    {
        public static readonly BytesComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] bytes) => GetHashCode(bytes.AsSpan());

        public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);

        public int GetHashCode(ReadOnlySpan<byte> alternate)
        {
            var hash = new HashCode();
            hash.AddBytes(alternate);
            return hash.ToHashCode();
        }

        public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();
    }
}
