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
/// are kept; the oldest key goes first. One instance is shared by the suites of a host. A key is freed (its OpenSSL
/// handles released, its bytes erased) as soon as nothing holds it: the cache holds a key while it is cached, and
/// each handshake from <see cref="Get"/> until it calls <see cref="Entry.Release"/>; so a key evicted or replaced while
/// handshakes still use it is freed when the last of them ends, and the cache's keys when it is disposed (with the
/// host's services), not by the finalizer.
/// </summary>
internal sealed class NoiseStaticKeys : IDisposable
{
    private readonly object _lock = new();
    private readonly Dictionary<PeerId, Entry> _entries = new();
    private readonly TimeProvider _time;
    private bool _disposed;

    public NoiseStaticKeys(TimeProvider? time = null) => _time = time ?? TimeProvider.System;

    /// <summary>A static key with the signature over it, held by the cache while cached and by each handshake that got
    /// it; the last <see cref="Release"/> disposes the key.</summary>
    internal sealed class Entry(X25519KeyPair key, byte[] identityKey, byte[] signature, long createdAt, int holds)
    {
        private int _holds = holds;

        public X25519KeyPair Key { get; } = key;

        public byte[] IdentityKey { get; } = identityKey;

        public byte[] Signature { get; } = signature;

        public long CreatedAt { get; } = createdAt;

        // Only while the cache holds it (under the cache's lock), so never from zero.
        internal void Hold() => Interlocked.Increment(ref _holds);

        /// <summary>Gives up one hold; the last disposes the key.</summary>
        public void Release()
        {
            int left = Interlocked.Decrement(ref _holds);
            if (left == 0) Key.Dispose();
            else if (left < 0) throw new InvalidOperationException("a Noise static key was released more often than it was held");
        }
    }

    /// <summary>Keys held now (for tests).</summary>
    internal int Count
    {
        get
        {
            lock (_lock) return _entries.Count;
        }
    }

    /// <summary>The identity's current static key, held for the caller (who calls <see cref="Entry.Release"/> when its
    /// handshake ends): the cached one while younger than the lifetime, else a new one.</summary>
    /// <remarks>Once the cache is disposed (its host is stopping) a handshake still arriving gets a key of its own, uncached, so
    /// that it fails, if at all, the way a handshake does and not with an ObjectDisposedException.</remarks>
    public Entry Get(ILocalIdentity identity, NoiseOptions options)
    {
        if (options.StaticKeyLifetime <= TimeSpan.Zero || options.StaticKeyCacheSize == 0)
        {
            return Create(identity, holds: 1);
        }

        long now = _time.GetTimestamp();
        lock (_lock)
        {
            if (_disposed)
            {
                return Create(identity, holds: 1);
            }

            if (_entries.TryGetValue(identity.PeerId, out var cached) &&
                _time.GetElapsedTime(cached.CreatedAt, now) < options.StaticKeyLifetime)
            {
                cached.Hold();
                return cached;
            }
        }

        // Made outside the lock: two handshakes starting together may both make one; the last stored wins, each
        // handshake uses the key it got. A key replaced or evicted is released by the cache and freed by its last
        // handshake.
        var entry = Create(identity, holds: 2);
        Entry? dropped = null, evicted = null;
        lock (_lock)
        {
            if (_disposed)
            {
                entry.Release(); // not cached: the caller's hold only
            }
            else
            {
                if (!_entries.ContainsKey(identity.PeerId) && _entries.Count >= options.StaticKeyCacheSize)
                {
                    var oldest = _entries.MinBy(e => e.Value.CreatedAt).Key;
                    _entries.Remove(oldest, out evicted);
                }

                _entries.Remove(identity.PeerId, out dropped);
                _entries[identity.PeerId] = entry;
            }
        }

        dropped?.Release();
        evicted?.Release();
        return entry;
    }

    /// <summary>Releases the cached keys: each is freed now, or when the last handshake holding it ends.</summary>
    public void Dispose()
    {
        List<Entry> entries;
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            entries = [.. _entries.Values];
            _entries.Clear();
        }

        foreach (var entry in entries) entry.Release();
    }

    private Entry Create(ILocalIdentity identity, int holds)
    {
        var key = X25519KeyPair.Generate();
        return new Entry(key, identity.PrivateKey.PublicKey.ToProtobuf(), HandshakePayload.Sign(identity.PrivateKey, key.PublicKey),
            _time.GetTimestamp(), holds);
    }
}
