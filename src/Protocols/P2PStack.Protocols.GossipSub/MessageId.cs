namespace P2PStack.Protocols.GossipSub;

/// <summary>A message id as raw bytes, with value equality so it can key dictionaries.</summary>
public readonly struct MessageId : IEquatable<MessageId>
{
    private readonly byte[]? _bytes;
    private readonly int _hash;

    public MessageId(byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        _bytes = bytes;
        var hash = new HashCode();
        hash.AddBytes(bytes);
        _hash = hash.ToHashCode();
    }

    public ReadOnlyMemory<byte> Bytes => _bytes ?? [];

    public byte[] ToArray() => (byte[])(_bytes ?? []).Clone();

    public bool Equals(MessageId other) => _hash == other._hash && Bytes.Span.SequenceEqual(other.Bytes.Span);

    public override bool Equals(object? obj) => obj is MessageId other && Equals(other);

    public override int GetHashCode() => _hash;

    public static bool operator ==(MessageId left, MessageId right) => left.Equals(right);

    public static bool operator !=(MessageId left, MessageId right) => !left.Equals(right);

    public override string ToString() => Convert.ToHexStringLower(Bytes.Span);
}
