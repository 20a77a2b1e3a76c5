namespace P2PStack.Identity;

/// <summary>
/// A libp2p private key. Dispose it when done: implementations zero the secret bytes they hold
/// (BouncyCastle and platform key objects are released; copies the runtime made elsewhere are out of reach).
/// </summary>
public abstract class PrivateKey : IDisposable
{
    private bool _disposed;

    public abstract KeyType Type { get; }

    public abstract PublicKey PublicKey { get; }

    /// <summary>Signs <paramref name="data"/> as the peer-ids spec prescribes for this key type.</summary>
    public abstract byte[] Sign(ReadOnlySpan<byte> data);

    /// <summary>Signs into <paramref name="destination"/> and returns the signature length.</summary>
    /// <exception cref="ArgumentException"><paramref name="destination"/> is too small.</exception>
    public virtual int Sign(ReadOnlySpan<byte> data, Span<byte> destination)
    {
        byte[] signature = Sign(data);
        if (signature.Length > destination.Length)
            throw new ArgumentException($"destination needs {signature.Length} bytes for the signature", nameof(destination));
        signature.CopyTo(destination);
        return signature.Length;
    }

    /// <summary>The key's Data field (secret: the caller should zero it after use).</summary>
    protected abstract byte[] ExportRaw();

    /// <summary>The libp2p PrivateKey protobuf (secret: the caller should zero it after use).</summary>
    public byte[] ToProtobuf()
    {
        ThrowIfDisposed();
        byte[] raw = ExportRaw();
        try { return KeyProtobuf.Encode(Type, raw); }
        finally { System.Security.Cryptography.CryptographicOperations.ZeroMemory(raw); }
    }

    /// <summary>Decodes a libp2p PrivateKey protobuf.</summary>
    /// <exception cref="KeyFormatException">Malformed protobuf, unsupported type or invalid key Data.</exception>
    public static PrivateKey FromProtobuf(ReadOnlySpan<byte> encoded)
    {
        KeyType type = KeyProtobuf.Decode(encoded, "private key", out var data);
        return FromRaw(type, data);
    }

    /// <summary>Builds a key from its type and Data field.</summary>
    public static PrivateKey FromRaw(KeyType type, ReadOnlySpan<byte> data) => type switch
    {
        KeyType.Ed25519 => Ed25519PrivateKey.FromRaw(data),
        KeyType.Secp256k1 => Secp256k1PrivateKey.FromRaw(data),
        KeyType.Ecdsa => EcdsaPrivateKey.FromRaw(data),
        KeyType.Rsa => RsaPrivateKey.FromRaw(data),
        _ => throw new KeyFormatException($"unsupported private key type {(int)type}"),
    };

    /// <summary>Creates a fresh key (RSA keys are 2048 bits; use <see cref="RsaPrivateKey.Generate"/> for others).</summary>
    public static PrivateKey Generate(KeyType type = KeyType.Ed25519) => type switch
    {
        KeyType.Ed25519 => Ed25519PrivateKey.Generate(),
        KeyType.Secp256k1 => Secp256k1PrivateKey.Generate(),
        KeyType.Ecdsa => EcdsaPrivateKey.Generate(),
        KeyType.Rsa => RsaPrivateKey.Generate(),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unknown key type"),
    };

    protected void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(_disposed, this);

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        DisposeSecrets();
        GC.SuppressFinalize(this);
    }

    /// <summary>Zeroes and releases the secret material.</summary>
    protected abstract void DisposeSecrets();

    public override string ToString() => $"{Type} private key";
}
