using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Security.Noise.Protocol;

namespace P2PStack.Security.Noise;

/// <summary>
/// The local Noise static keys, one per local identity, each with its identity signature ("noise-libp2p-static-key:"
/// and the key), reused by every handshake of that identity for <see cref="NoiseOptions.StaticKeyLifetime"/>. The
/// libp2p Noise spec leaves the static key's lifetime open (go-, js- and rust-libp2p keep one per process); making a
/// key and signing it on every handshake cost each side an X25519 base-point multiplication and an Ed25519
/// signature. Reuse links nothing the identity does not: the key is only ever sent, encrypted, next to the identity
/// key that signs it, and per-connection identities (onion, shadow) get keys of their own. Forward secrecy comes from
/// the ephemeral keys (ee), not from the static one. At most <see cref="NoiseOptions.StaticKeyCacheSize"/> identities
/// are kept; the oldest key goes first. One instance is shared by the suites of a host.
/// </summary>
internal sealed class NoiseStaticKeys
{
    private readonly object _lock = new();
    private readonly Dictionary<PeerId, Entry> _entries = new();
    private readonly TimeProvider _time;

    public NoiseStaticKeys(TimeProvider? time = null) => _time = time ?? TimeProvider.System;

    /// <summary>A static key with the signature over it. <see cref="Owned"/>: not cached, the caller disposes it.</summary>
    internal sealed record Entry(X25519KeyPair Key, byte[] IdentityKey, byte[] Signature, long CreatedAt, bool Owned);

    /// <summary>Keys held now (for tests).</summary>
    internal int Count
    {
        get
        {
            lock (_lock) return _entries.Count;
        }
    }

    /// <summary>The identity's current static key: the cached one while younger than the lifetime, else a new one.</summary>
    public Entry Get(ILocalIdentity identity, NoiseOptions options)
    {
        if (options.StaticKeyLifetime <= TimeSpan.Zero || options.StaticKeyCacheSize == 0)
        {
            return Create(identity, owned: true);
        }

        long now = _time.GetTimestamp();
        lock (_lock)
        {
            if (_entries.TryGetValue(identity.PeerId, out var cached) &&
                _time.GetElapsedTime(cached.CreatedAt, now) < options.StaticKeyLifetime)
            {
                return cached;
            }
        }

        // Made outside the lock: two handshakes starting together may both make one; the last stored wins, each
        // handshake uses the key it got (an evicted key is not disposed: a handshake may still hold it).
        var entry = Create(identity, owned: false);
        lock (_lock)
        {
            if (!_entries.ContainsKey(identity.PeerId) && _entries.Count >= options.StaticKeyCacheSize)
            {
                var oldest = _entries.MinBy(e => e.Value.CreatedAt).Key;
                _entries.Remove(oldest);
            }

            _entries[identity.PeerId] = entry;
        }

        return entry;
    }

    private Entry Create(ILocalIdentity identity, bool owned)
    {
        var key = X25519KeyPair.Generate();
        return new Entry(key, identity.PrivateKey.PublicKey.ToProtobuf(), HandshakePayload.Sign(identity.PrivateKey, key.PublicKey),
            _time.GetTimestamp(), owned);
    }
}
