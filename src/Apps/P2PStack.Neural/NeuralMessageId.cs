using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;

namespace P2PStack.Neural;

/// <summary>A message's 16-byte random id; printed as 32 lowercase hex digits.</summary>
public readonly record struct NeuralMessageId(UInt128 Value)
{
    public static NeuralMessageId New()
    {
        Span<byte> bytes = stackalloc byte[NeuralProtocol.MessageIdLength];
        RandomNumberGenerator.Fill(bytes);
        return FromBytes(bytes);
    }

    /// <exception cref="NeuralFormatException">Not 16 bytes.</exception>
    public static NeuralMessageId FromBytes(ReadOnlySpan<byte> bytes) => bytes.Length == NeuralProtocol.MessageIdLength
        ? new(BinaryPrimitives.ReadUInt128BigEndian(bytes))
        : throw new NeuralFormatException($"message id is {bytes.Length} bytes, not {NeuralProtocol.MessageIdLength}");

    public byte[] ToBytes()
    {
        var bytes = new byte[NeuralProtocol.MessageIdLength];
        BinaryPrimitives.WriteUInt128BigEndian(bytes, Value);
        return bytes;
    }

    public static bool TryParse(string? text, out NeuralMessageId id)
    {
        id = default;
        if (text is not { Length: 32 } || !UInt128.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var value))
            return false;
        id = new(value);
        return true;
    }

    public override string ToString() => Value.ToString("x32", CultureInfo.InvariantCulture);
}
