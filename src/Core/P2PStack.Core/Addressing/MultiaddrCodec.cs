using System.Buffers;
using P2PStack.Encoding;

namespace P2PStack.Addressing;

/// <summary>Text and binary forms of multiaddrs, with the validation rules of go-multiaddr.</summary>
internal static class MultiaddrCodec
{
    /// <summary>Reads one component of <paramref name="buffer"/> at <paramref name="offset"/>. The component keeps a
    /// reference to <paramref name="buffer"/>, which must never be written again.</summary>
    public static MultiaddrComponent ReadComponent(byte[] buffer, int offset, out int next)
    {
        ReadOnlySpan<byte> rest = buffer.AsSpan(offset);
        ulong code;
        int codeLength;
        try
        {
            code = Varint.Read(rest, out codeLength);
        }
        catch (VarintException e)
        {
            throw new MultiaddrException($"bad protocol code at byte {offset}: {e.Message}", e);
        }
        if (code > int.MaxValue || !MultiaddrProtocols.TryGet((int)code, out MultiaddrProtocol? protocol))
            throw new MultiaddrException($"unknown protocol code {code} at byte {offset}");

        int valueOffset = codeLength;
        int valueLength;
        if (protocol.IsVariableSize)
        {
            ulong length;
            try
            {
                length = Varint.Read(rest[codeLength..], out int prefixLength);
                valueOffset += prefixLength;
            }
            catch (VarintException e)
            {
                throw new MultiaddrException($"bad /{protocol.Name} value length at byte {offset + codeLength}: {e.Message}", e);
            }
            if (length == 0) throw new MultiaddrException($"/{protocol.Name} value at byte {offset} is empty");
            if (length > (ulong)(rest.Length - valueOffset))
                throw new MultiaddrException($"/{protocol.Name} value at byte {offset} claims {length} bytes but only {rest.Length - valueOffset} remain");
            valueLength = (int)length;
        }
        else
        {
            valueLength = protocol.FixedByteLength;
            if (valueLength > rest.Length - valueOffset)
                throw new MultiaddrException($"/{protocol.Name} value at byte {offset} is truncated: needs {valueLength} bytes, {rest.Length - valueOffset} remain");
        }

        if (protocol.Codec is not null)
        {
            try
            {
                protocol.Codec.Validate(rest.Slice(valueOffset, valueLength));
            }
            catch (P2PFormatException e)
            {
                throw new MultiaddrException($"invalid /{protocol.Name} value at byte {offset}: {e.Message}", e);
            }
        }
        int total = valueOffset + valueLength;
        next = offset + total;
        return new MultiaddrComponent(protocol, buffer.AsMemory(offset, total), valueOffset);
    }

    /// <summary>Decodes a whole binary multiaddr. Empty input is an error, as in go-multiaddr.</summary>
    public static Multiaddr Decode(ReadOnlySpan<byte> bytes, int maxLength)
    {
        if (bytes.IsEmpty) throw new MultiaddrException("multiaddr is empty");
        if (bytes.Length > maxLength) throw new MultiaddrException($"multiaddr has {bytes.Length} bytes, more than the limit of {maxLength}");
        byte[] buffer = bytes.ToArray();
        var components = new List<MultiaddrComponent>();
        int offset = 0;
        while (offset < buffer.Length)
        {
            if (components.Count > 0 && components[^1].Protocol.IsPath)
                throw new MultiaddrException($"component at byte {offset} follows /{components[^1].Protocol.Name}, which must be last");
            components.Add(ReadComponent(buffer, offset, out offset));
        }
        return new Multiaddr(buffer, [.. components]);
    }

    /// <summary>Converts text such as <c>/ip4/1.2.3.4/tcp/80</c> to bytes (trailing slashes are ignored).</summary>
    public static byte[] ParseToBytes(string text, int maxLength)
    {
        int maxTextLength = maxLength * 4;
        if (text.Length > maxTextLength) throw Fail(text, $"text is longer than {maxTextLength} characters");
        ReadOnlySpan<char> rest = text.AsSpan().TrimEnd('/');
        if (rest.IsEmpty) throw Fail(text, "multiaddr is empty");
        if (rest[0] != '/') throw Fail(text, "must begin with '/'");
        rest = rest[1..];

        var output = new ArrayBufferWriter<byte>(64);
        Span<byte> lengthPrefix = stackalloc byte[Varint.MaxLength];
        while (!rest.IsEmpty)
        {
            ReadOnlySpan<char> name = NextSegment(ref rest);
            if (!MultiaddrProtocols.TryGet(name, out MultiaddrProtocol? protocol))
                throw Fail(text, $"unknown protocol \"{Shorten(name.ToString())}\"");
            output.Write(protocol.EncodedCode);
            if (!protocol.HasValue) continue;
            if (rest.IsEmpty) throw Fail(text, $"/{protocol.Name} needs a value");

            string value;
            if (protocol.IsPath)
            {
                // A path protocol takes everything after its name, slashes included.
                value = "/" + rest.ToString();
                rest = default;
            }
            else
            {
                value = NextSegment(ref rest).ToString();
            }
            byte[] raw;
            try
            {
                raw = protocol.Codec!.Parse(value);
            }
            catch (P2PFormatException e)
            {
                throw Fail(text, $"invalid /{protocol.Name} value \"{Shorten(value)}\": {e.Message}", e);
            }
            if (protocol.IsVariableSize)
            {
                output.Write(lengthPrefix[..Varint.Write((ulong)raw.Length, lengthPrefix)]);
            }
            output.Write(raw);
            if (output.WrittenCount > maxLength) throw Fail(text, $"multiaddr is longer than {maxLength} bytes");
        }
        return output.WrittenSpan.ToArray();
    }

    private static ReadOnlySpan<char> NextSegment(ref ReadOnlySpan<char> rest)
    {
        int slash = rest.IndexOf('/');
        ReadOnlySpan<char> segment = slash < 0 ? rest : rest[..slash];
        rest = slash < 0 ? default : rest[(slash + 1)..];
        return segment;
    }

    private static MultiaddrException Fail(string text, string problem, Exception? inner = null) =>
        new($"failed to parse multiaddr \"{Shorten(text)}\": {problem}", inner);

    private static string Shorten(string text) => text.Length <= 120 ? text : string.Concat(text.AsSpan(0, 117), "...");
}
