using P2PStack.Addressing.Codecs;
using P2PStack.Encoding;

namespace P2PStack.Addressing;

/// <summary>
/// One entry of the multiaddr protocol table: its multicodec code, name, and the shape of its value
/// (none, a fixed number of bits, or varint-length-prefixed). Instances are the singletons in
/// <see cref="MultiaddrProtocols"/>, so reference equality is enough.
/// </summary>
public sealed class MultiaddrProtocol
{
    /// <summary><see cref="SizeInBits"/> of protocols whose value is varint-length-prefixed.</summary>
    public const int VariableSize = -1;

    private readonly byte[] encodedCode;

    internal MultiaddrProtocol(int code, string name, int sizeInBits, ValueCodec? codec, bool isPath = false)
    {
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

    internal ValueCodec? Codec { get; }

    public override string ToString() => Name;
}
