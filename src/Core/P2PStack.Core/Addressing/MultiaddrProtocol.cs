using P2PStack.Encoding;

namespace P2PStack.Addressing;

/// <summary>
/// One entry of the multiaddr protocol table: its multicodec code, name, and the shape of its value
/// (none, a fixed number of bits, or varint-length-prefixed). The registered instances (the built-in ones in
/// <see cref="MultiaddrProtocols"/> and those modules add with <see cref="MultiaddrProtocols.Register"/>) are
/// singletons, so reference equality is enough.
/// </summary>
public sealed class MultiaddrProtocol
{
    /// <summary><see cref="SizeInBits"/> of protocols whose value is varint-length-prefixed.</summary>
    public const int VariableSize = -1;

    private readonly byte[] encodedCode;

    /// <summary>Defines a protocol; register it with <see cref="MultiaddrProtocols.Register"/> before parsing addresses
    /// that use it.</summary>
    /// <param name="code">The multicodec code (positive). Codes of the multicodec table's private-use range
    /// (0x300000-0x3FFFFF) are the place for protocols of our own.</param>
    /// <param name="name">The text name: lowercase letters, digits and '-'.</param>
    /// <param name="sizeInBits">0 for no value, a whole number of bytes in bits, or <see cref="VariableSize"/>.</param>
    /// <param name="codec">The value's text/bytes conversion; required exactly when the protocol has a value.</param>
    /// <param name="isPath">The value is the rest of the text address (like /unix); only for variable-size values.</param>
    public MultiaddrProtocol(int code, string name, int sizeInBits, MultiaddrValueCodec? codec, bool isPath = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(code);
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!name.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-'))
            throw new ArgumentException($"protocol name \"{name}\" may hold only lowercase letters, digits and '-'", nameof(name));
        if (sizeInBits < VariableSize) throw new ArgumentOutOfRangeException(nameof(sizeInBits), "must be 0, positive or VariableSize");
        if ((sizeInBits != 0) != (codec is not null)) throw new ArgumentException("protocols with a value need a codec");
        if (isPath && sizeInBits != VariableSize) throw new ArgumentException("path protocols must be variable-size");
        if (sizeInBits > 0 && sizeInBits % 8 != 0) throw new ArgumentException("fixed sizes are whole bytes");
        Code = code;
        Name = name;
        SizeInBits = sizeInBits;
        IsPath = isPath;
        Codec = codec;
        encodedCode = Varint.Encode((ulong)code);
    }

    /// <summary>Multicodec code, written as a varint before the value.</summary>
    public int Code { get; }

    /// <summary>Name used in text form (the canonical one: "p2p", never the alias "ipfs").</summary>
    public string Name { get; }

    /// <summary>0 for no value, the value's size in bits when fixed, or <see cref="VariableSize"/>.</summary>
    public int SizeInBits { get; }

    /// <summary>True when the protocol carries a value.</summary>
    public bool HasValue => SizeInBits != 0;

    /// <summary>True when the value is varint-length-prefixed.</summary>
    public bool IsVariableSize => SizeInBits == VariableSize;

    /// <summary>Byte length of a fixed-size value; 0 for variable-size or value-less protocols.</summary>
    public int FixedByteLength => SizeInBits > 0 ? SizeInBits / 8 : 0;

    /// <summary>
    /// Path protocols (unix) take the rest of the text address as their value, so they must come last.
    /// </summary>
    public bool IsPath { get; }

    /// <summary>The code as a varint.</summary>
    public ReadOnlySpan<byte> EncodedCode => encodedCode;

    /// <summary>The value's codec; null when the protocol has no value.</summary>
    public MultiaddrValueCodec? Codec { get; }

    public override string ToString() => Name;
}
