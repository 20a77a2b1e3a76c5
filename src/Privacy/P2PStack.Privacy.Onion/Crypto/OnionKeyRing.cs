using P2PStack.Crypto.MLKem;

namespace P2PStack.Privacy.Onion.Crypto;

/// <summary>One X-Wing onion key pair of a relay, with its id and validity.</summary>
internal sealed class OnionKey : IDisposable
{
    public OnionKey(XWingKem kem, DateTimeOffset createdAt, DateTimeOffset validUntil)
    {
        Kem = kem;
        PublicKey = kem.ExportPublicKey();
        Id = OnionHandshake.KeyId(PublicKey);
        CreatedAt = createdAt;
        ValidUntil = validUntil;
    }

    public XWingKem Kem { get; }

    public byte[] PublicKey { get; }

    public byte[] Id { get; }

    public DateTimeOffset CreatedAt { get; }

    /// <summary>When CREATEs under this key stop being answered (the key is then erased).</summary>
    public DateTimeOffset ValidUntil { get; }

    public void Dispose() => Kem.Dispose();
}

/// <summary>
/// A relay's onion keys: the current one, published in its descriptor and used by new circuits, and the one before it,
/// still answered until it expires so that clients holding the previous descriptor are served (the overlap). Keys live
/// in memory only: a restarted relay publishes new ones, and a key that expired is erased, which bounds what a stolen
/// key can reveal (and the ephemeral half of the handshake protects past circuits even then).
/// </summary>
internal sealed class OnionKeyRing : IDisposable
{
    private readonly Lock _gate = new();
    private readonly TimeProvider _time;
    private readonly TimeSpan _rotation;
    private readonly TimeSpan _overlap;
    private OnionKey[] _keys;
    private bool _disposed;

    /// <param name="rotation">How long a key is the current one.</param>
    /// <param name="overlap">How long it is still answered after the next one replaced it.</param>
    public OnionKeyRing(TimeProvider time, TimeSpan rotation, TimeSpan overlap)
    {
        _time = time;
        _rotation = rotation;
        _overlap = overlap;
        _keys = [NewKey(time.GetUtcNow())];
    }

    /// <summary>The key new circuits use, published in the descriptor.</summary>
    public OnionKey Current => Volatile.Read(ref _keys)[0];

    /// <summary>Every key still answered, current first.</summary>
    public IReadOnlyList<OnionKey> Keys => Volatile.Read(ref _keys);

    /// <summary>When the current key is to be replaced.</summary>
    public DateTimeOffset NextRotation => Current.CreatedAt + _rotation;

    /// <summary>The answered key with this id, or null.</summary>
    public OnionKey? Find(ReadOnlySpan<byte> keyId)
    {
        var now = _time.GetUtcNow();
        foreach (var key in Volatile.Read(ref _keys))
            if (key.Id.AsSpan().SequenceEqual(keyId) && now < key.ValidUntil) return key;
        return null;
    }

    /// <summary>Replaces the current key when its time is up and erases expired ones; returns whether the current key
    /// changed (the descriptor must then be published again).</summary>
    public bool RotateIfDue()
    {
        lock (_gate)
        {
            if (_disposed) return false;
            var now = _time.GetUtcNow();
            var keys = _keys;
            bool rotate = now >= keys[0].CreatedAt + _rotation;
            var kept = new List<OnionKey>();
            if (rotate) kept.Add(NewKey(now));
            foreach (var key in keys)
            {
                if (now < key.ValidUntil) kept.Add(key);
                else key.Dispose();
            }
            Volatile.Write(ref _keys, [.. kept]);
            return rotate;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var key in _keys) key.Dispose();
        }
    }

    private OnionKey NewKey(DateTimeOffset now) => new(XWingKem.GenerateKey(), now, now + _rotation + _overlap);
}
