using System.Buffers;
using System.Buffers.Binary;

namespace P2PStack.Muxers.Yamux;

/// <summary>Yamux frame types (spec.md "Type field").</summary>
public enum YamuxFrameType : byte
{
    Data = 0,
    WindowUpdate = 1,
    Ping = 2,
    GoAway = 3,
}

/// <summary>Yamux frame flags (spec.md "Flag field").</summary>
[Flags]
public enum YamuxFlags : ushort
{
    None = 0,
    Syn = 1,
    Ack = 2,
    Fin = 4,
    Rst = 8,
}

/// <summary>Error codes carried in the length field of a go-away frame.</summary>
public enum GoAwayCode : uint
{
    Normal = 0,
    ProtocolError = 1,
    InternalError = 2,
}

/// <summary>One decoded 12-byte yamux header. <see cref="Length"/> is the payload length for data frames, the window
/// delta for window updates, the opaque value for pings and the error code for go-away.</summary>
public readonly record struct YamuxFrameHeader(YamuxFrameType Type, YamuxFlags Flags, uint StreamId, uint Length)
{
    public bool Has(YamuxFlags flag) => (Flags & flag) != 0;

    public override string ToString() => $"{Type} flags={Flags} stream={StreamId} length={Length}";
}

/// <summary>The remote broke the yamux protocol; the session answers with a protocol-error go-away.</summary>
public sealed class YamuxProtocolException(string message) : P2PFormatException(message);

/// <summary>Encodes and decodes yamux headers: version(8) type(8) flags(16) stream id(32) length(32), big endian.</summary>
public static class YamuxFrameCodec
{
    public const int HeaderLength = 12;

    public const byte ProtocolVersion = 0;

    public static void Write(Span<byte> destination, in YamuxFrameHeader header)
    {
        if (destination.Length < HeaderLength)
        {
            throw new ArgumentException($"a yamux header needs {HeaderLength} bytes", nameof(destination));
        }

        destination[0] = ProtocolVersion;
        destination[1] = (byte)header.Type;
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], (ushort)header.Flags);
        BinaryPrimitives.WriteUInt32BigEndian(destination[4..], header.StreamId);
        BinaryPrimitives.WriteUInt32BigEndian(destination[8..], header.Length);
    }

    /// <summary>Decodes and validates one header (version, type, and the stream id rules of each type).</summary>
    /// <exception cref="YamuxProtocolException">The header is not a valid yamux header.</exception>
    public static YamuxFrameHeader Read(ReadOnlySpan<byte> source)
    {
        if (source.Length < HeaderLength)
        {
            throw new YamuxProtocolException($"yamux header truncated: {source.Length} of {HeaderLength} bytes");
        }

        if (source[0] != ProtocolVersion)
        {
            throw new YamuxProtocolException($"unsupported yamux version {source[0]}");
        }

        if (source[1] > (byte)YamuxFrameType.GoAway)
        {
            throw new YamuxProtocolException($"unknown yamux frame type {source[1]}");
        }

        var header = new YamuxFrameHeader(
            (YamuxFrameType)source[1],
            (YamuxFlags)BinaryPrimitives.ReadUInt16BigEndian(source[2..]),
            BinaryPrimitives.ReadUInt32BigEndian(source[4..]),
            BinaryPrimitives.ReadUInt32BigEndian(source[8..]));

        bool sessionFrame = header.Type is YamuxFrameType.Ping or YamuxFrameType.GoAway;
        if (sessionFrame && header.StreamId != 0)
        {
            throw new YamuxProtocolException($"{header.Type} frame on stream {header.StreamId}; session frames use stream 0");
        }

        if (!sessionFrame && header.StreamId == 0)
        {
            throw new YamuxProtocolException($"{header.Type} frame on stream 0, which is reserved for the session");
        }

        return header;
    }

    /// <summary>Decodes a header from the start of <paramref name="buffer"/> when 12 bytes are available.</summary>
    public static bool TryRead(in ReadOnlySequence<byte> buffer, out YamuxFrameHeader header)
    {
        if (buffer.Length < HeaderLength)
        {
            header = default;
            return false;
        }

        ReadOnlySpan<byte> first = buffer.FirstSpan;
        if (first.Length >= HeaderLength)
        {
            header = Read(first);
            return true;
        }

        Span<byte> copy = stackalloc byte[HeaderLength];
        buffer.Slice(0, HeaderLength).CopyTo(copy);
        header = Read(copy);
        return true;
    }
}
