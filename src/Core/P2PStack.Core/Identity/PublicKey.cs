namespace P2PStack.Identity;

/// <summary>
/// A libp2p public key. <see cref="Raw"/> is the spec's Data field in canonical form (what <see cref="ToProtobuf"/>
/// wraps and peer ids hash); two keys are equal when type and canonical Data are equal.
/// </summary>
public abstract class PublicKey : IEquatable<PublicKey>
{
    private readonly byte[] _raw;
    private byte[]? _protobuf;

    private protected PublicKey(byte[] canonicalRaw) => _raw = canonicalRaw;

    public abstract KeyType Type { get; }

    /// <summary>The key's Data field in its canonical encoding.</summary>
    public ReadOnlyMemory<byte> Raw => _raw;

    /// <summary>Checks <paramref name="signature"/> over <paramref name="data"/>; a malformed signature is simply <c>false</c>.</summary>
    public abstract bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature);

    /// <summary>The deterministic libp2p PublicKey protobuf (a fresh copy).</summary>
    public byte[] ToProtobuf() => (byte[])ProtobufBytes.Clone();

    /// <summary>Cached protobuf encoding; callers inside the assembly must not mutate it.</summary>
    internal byte[] ProtobufBytes => _protobuf ??= KeyProtobuf.Encode(Type, _raw);

    /// <summary>Decodes a libp2p PublicKey protobuf.</summary>
    /// <exception cref="KeyFormatException">Malformed protobuf, unsupported type or invalid key Data.</exception>
    public static PublicKey FromProtobuf(ReadOnlySpan<byte> encoded)
    {
        KeyType type = KeyProtobuf.Decode(encoded, "public key", out var data);
        return FromRaw(type, data);
    }

    /// <summary>Builds a key from its type and Data field.</summary>
    /// <exception cref="KeyFormatException">Unsupported type or invalid Data.</exception>
    public static PublicKey FromRaw(KeyType type, ReadOnlySpan<byte> data) => type switch
    {
        KeyType.Ed25519 => Ed25519PublicKey.FromRaw(data),
        KeyType.Secp256k1 => Secp256k1PublicKey.FromRaw(data),
        KeyType.Ecdsa => EcdsaPublicKey.FromRaw(data),
        KeyType.Rsa => RsaPublicKey.FromRaw(data),
        _ => throw new KeyFormatException($"unsupported public key type {(int)type}"),
    };

    public bool Equals(PublicKey? other) =>
        other is not null && (ReferenceEquals(this, other) || (Type == other.Type && _raw.AsSpan().SequenceEqual(other._raw)));

    public override bool Equals(object? obj) => Equals(obj as PublicKey);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Type);
        hash.AddBytes(_raw);
        return hash.ToHashCode();
    }

    public static bool operator ==(PublicKey? left, PublicKey? right) => left is null ? right is null : left.Equals(right);
    public static bool operator !=(PublicKey? left, PublicKey? right) => !(left == right);

    public override string ToString() => $"{Type} public key ({_raw.Length} bytes)";
}
