using P2PStack.Encoding;

namespace P2PStack.Identity;

/// <summary>
/// The libp2p key protobuf (<c>Type = 1</c>, <c>Data = 2</c>) in its deterministic form, which the spec requires because
/// the encoded public key is hashed into the peer id: fields in tag order, both present, minimal varints, nothing else.
/// Decoding accepts only that form, so every accepted encoding re-encodes to the same bytes.
/// </summary>
internal static class KeyProtobuf
{
    private const byte TypeTag = 0x08; // field 1, varint
    private const byte DataTag = 0x12; // field 2, length-delimited

    /// <summary>Largest Data field accepted (an 8192-bit RSA PKCS#1 private key is about 4.7 KB).</summary>
    public const int MaxDataLength = 16 * 1024;

    public static int EncodedLength(int dataLength) => 3 + Varint.SizeOf((ulong)dataLength) + dataLength;

    public static byte[] Encode(KeyType type, ReadOnlySpan<byte> data)
    {
        var output = new byte[EncodedLength(data.Length)];
        output[0] = TypeTag;
        output[1] = (byte)type;
        output[2] = DataTag;
        int offset = 3 + Varint.Write((ulong)data.Length, output.AsSpan(3));
        data.CopyTo(output.AsSpan(offset));
        return output;
    }

    /// <summary>Splits an encoded key into its type and Data; <paramref name="what"/> names it in error messages.</summary>
    public static KeyType Decode(ReadOnlySpan<byte> encoded, string what, out ReadOnlySpan<byte> data)
    {
        if (encoded.Length < 4) throw new KeyFormatException($"{what} protobuf is too short ({encoded.Length} bytes)");
        if (encoded[0] != TypeTag) throw new KeyFormatException($"{what} protobuf must start with the Type field (tag 0x08), found 0x{encoded[0]:x2}");
        byte rawType = encoded[1];
        if (rawType > (byte)KeyType.Ecdsa)
            throw new KeyFormatException((rawType & 0x80) != 0 ? $"{what} type is out of range" : $"unsupported {what} type {rawType}");
        if (encoded[2] != DataTag) throw new KeyFormatException($"{what} protobuf must have the Data field (tag 0x12) right after Type, found 0x{encoded[2]:x2}");
        ulong length;
        int lengthSize;
        try { length = Varint.Read(encoded[3..], out lengthSize); }
        catch (VarintException e) { throw new KeyFormatException($"{what} Data length: {e.Message}", e); }
        if (length > MaxDataLength) throw new KeyFormatException($"{what} Data is {length} bytes, more than the {MaxDataLength} allowed");
        int start = 3 + lengthSize;
        int remaining = encoded.Length - start;
        if ((ulong)remaining < length) throw new KeyFormatException($"{what} Data is truncated: {length} bytes declared, {remaining} present");
        if ((ulong)remaining > length) throw new KeyFormatException($"{what} protobuf has {remaining - (int)length} unexpected bytes after Data");
        data = encoded.Slice(start, (int)length);
        return (KeyType)rawType;
    }
}
