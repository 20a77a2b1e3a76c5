using System.Buffers.Binary;
using P2PStack.Privacy.Onion.Crypto;

namespace P2PStack.Privacy.Onion.Wire;

/// <summary>The command byte of a cell on a circuit link.</summary>
public enum CellCommand : byte
{
    /// <summary>Link padding: the neighbour drops it.</summary>
    Padding = 0,

    /// <summary>A fragment of the key agreement's first message (client or extending hop to relay).</summary>
    Create = 1,

    /// <summary>A fragment of the relay's answer.</summary>
    Created = 2,

    /// <summary>An onion-encrypted relay cell.</summary>
    Relay = 3,

    /// <summary>A relay cell that may carry EXTEND; each hop lets only so many through (circuit length bound).</summary>
    RelayEarly = 4,

    /// <summary>The circuit ends; the body's first byte is a <see cref="DestroyReason"/>.</summary>
    Destroy = 5,
}

/// <summary>The command of a relay message (inside the layers).</summary>
public enum RelayCommand : byte
{
    Data = 1,
    Begin = 2,
    Connected = 3,
    End = 4,
    Sendme = 5,
    Extend = 6,
    Extended = 7,
    Truncated = 8,

    /// <summary>Padding for the hop that recognises it: dropped there.</summary>
    Drop = 9,

    /// <summary>Service → its introduction point: accept introductions for this auth key over this circuit.</summary>
    EstablishIntro = 10,

    /// <summary>Introduction point → service: the registration's outcome (a status byte).</summary>
    IntroEstablished = 11,

    /// <summary>Client → introduction point: open a stream to the service registered under this auth key.</summary>
    Introduce = 12,

    /// <summary>Introduction point → service: a client's stream arrives on this stream id (the relay chose it).</summary>
    Introduced = 13,
}

/// <summary>
/// The sizes that follow from a network's cell size (docs/specs/onion.md, "Cells"): a link cell is the command byte
/// and a body; a relay cell's body is the layer tag (16 bytes) and the relay payload, whose plaintext is a 6-byte
/// header (command, stream id, data length, flags) and the data.
/// </summary>
public readonly record struct CellLayout
{
    public const int MinCellSize = 128;
    public const int MaxCellSize = 65535;
    public const int RelayHeaderSize = 6;

    /// <summary>The flag bit of a relay message continued in the next cell.</summary>
    public const byte MoreFlag = 1;

    public CellLayout(int cellSize)
    {
        if (cellSize is < MinCellSize or > MaxCellSize)
            throw new ArgumentOutOfRangeException(nameof(cellSize), cellSize, $"the cell size must be {MinCellSize}-{MaxCellSize} bytes");
        CellSize = cellSize;
    }

    public int CellSize { get; }

    /// <summary>Bytes after the command byte.</summary>
    public int BodySize => CellSize - 1;

    /// <summary>Data bytes one relay cell carries.</summary>
    public int RelayDataCapacity => BodySize - LayerCipher.TagSize - RelayHeaderSize;

    /// <summary>Handshake bytes the first CREATE/CREATED cell carries (after the 2-byte total length).</summary>
    public int FirstHandshakeChunk => BodySize - 2;

    /// <summary>Link cells a handshake message of <paramref name="length"/> bytes takes.</summary>
    public int HandshakeCells(int length) => length <= FirstHandshakeChunk ? 1 : 1 + (length - FirstHandshakeChunk + BodySize - 1) / BodySize;

    /// <summary>Relay cells a message of <paramref name="length"/> bytes takes.</summary>
    public int RelayCells(int length) => Math.Max(1, (length + RelayDataCapacity - 1) / RelayDataCapacity);
}

/// <summary>Encoding and decoding of cells; pure functions over spans, no allocation.</summary>
public static class CellCodec
{
    /// <summary>Writes a control cell (padding, destroy): the command, then the reason byte for DESTROY, zeros after.</summary>
    public static void WriteControl(Span<byte> cell, CellCommand command, DestroyReason reason = DestroyReason.None)
    {
        cell.Clear();
        cell[0] = (byte)command;
        if (command == CellCommand.Destroy) cell[1] = (byte)reason;
    }

    /// <summary>
    /// Writes handshake cell number <paramref name="index"/> of <paramref name="message"/>: the first holds the total
    /// length (u16, big-endian) and the first bytes, the others the next body-sized chunks; unused bytes are zero.
    /// </summary>
    public static void WriteHandshake(Span<byte> cell, CellLayout layout, CellCommand command, ReadOnlySpan<byte> message, int index)
    {
        cell.Clear();
        cell[0] = (byte)command;
        if (index == 0)
        {
            BinaryPrimitives.WriteUInt16BigEndian(cell[1..], checked((ushort)message.Length));
            var first = message[..Math.Min(message.Length, layout.FirstHandshakeChunk)];
            first.CopyTo(cell[3..]);
            return;
        }
        int offset = layout.FirstHandshakeChunk + (index - 1) * layout.BodySize;
        var chunk = message[offset..Math.Min(message.Length, offset + layout.BodySize)];
        chunk.CopyTo(cell[1..]);
    }

    /// <summary>
    /// Writes the plaintext of a relay cell body: a zero tag (the mark of the hop it is for), the header and the data,
    /// zeros after.
    /// </summary>
    /// <summary>Writes the <paramref name="index"/>-th SENDME of a batch as an unencrypted RELAY cell: a circuit SENDME
    /// (version 1, the tag it acknowledges) for each of <paramref name="circuitTags"/>, then stream SENDMEs for
    /// <paramref name="streamId"/>. <paramref name="scratch"/> holds 1 + tag size bytes.</summary>
    internal static void WriteSendmeCell(Span<byte> cell, IReadOnlyList<byte[]> circuitTags, int index, ushort streamId, byte[] scratch)
    {
        cell[0] = (byte)CellCommand.Relay;
        if (index < circuitTags.Count)
        {
            scratch[0] = 1;
            circuitTags[index].CopyTo(scratch.AsSpan(1));
            WriteRelayPlaintext(cell[1..], RelayCommand.Sendme, 0, scratch, more: false);
        }
        else
        {
            WriteRelayPlaintext(cell[1..], RelayCommand.Sendme, streamId, ReadOnlySpan<byte>.Empty, more: false);
        }
    }

    public static void WriteRelayPlaintext(Span<byte> body, RelayCommand command, ushort streamId, ReadOnlySpan<byte> data, bool more)
    {
        int capacity = body.Length - LayerCipher.TagSize - CellLayout.RelayHeaderSize;
        if (data.Length > capacity) throw new ArgumentException($"{data.Length} bytes do not fit a relay cell ({capacity})", nameof(data));
        body.Clear();
        var payload = body[LayerCipher.TagSize..];
        payload[0] = (byte)command;
        BinaryPrimitives.WriteUInt16BigEndian(payload[1..], streamId);
        BinaryPrimitives.WriteUInt16BigEndian(payload[3..], (ushort)data.Length);
        payload[5] = more ? CellLayout.MoreFlag : (byte)0;
        data.CopyTo(payload[CellLayout.RelayHeaderSize..]);
    }

    /// <summary>Writes the header of a relay cell plaintext (a zero tag, then command, stream id, data length, flags) in
    /// front of data already in place; the bytes after the data are the caller's to clear.</summary>
    public static void WriteRelayHeader(Span<byte> body, RelayCommand command, ushort streamId, int length, bool more)
    {
        int capacity = body.Length - LayerCipher.TagSize - CellLayout.RelayHeaderSize;
        if ((uint)length > (uint)capacity) throw new ArgumentOutOfRangeException(nameof(length), length, $"at most {capacity} bytes fit a relay cell");
        body[..LayerCipher.TagSize].Clear();
        var payload = body[LayerCipher.TagSize..];
        payload[0] = (byte)command;
        BinaryPrimitives.WriteUInt16BigEndian(payload[1..], streamId);
        BinaryPrimitives.WriteUInt16BigEndian(payload[3..], (ushort)length);
        payload[5] = more ? CellLayout.MoreFlag : (byte)0;
    }

    /// <summary>Writes a relay cell plaintext whose data is a slice of a sequence (no intermediate copy).</summary>
    public static void WriteRelayPlaintext(Span<byte> body, RelayCommand command, ushort streamId,
        in System.Buffers.ReadOnlySequence<byte> data, bool more)
    {
        int capacity = body.Length - LayerCipher.TagSize - CellLayout.RelayHeaderSize;
        if (data.Length > capacity) throw new ArgumentException($"{data.Length} bytes do not fit a relay cell ({capacity})", nameof(data));
        body.Clear();
        var payload = body[LayerCipher.TagSize..];
        payload[0] = (byte)command;
        BinaryPrimitives.WriteUInt16BigEndian(payload[1..], streamId);
        BinaryPrimitives.WriteUInt16BigEndian(payload[3..], (ushort)data.Length);
        payload[5] = more ? CellLayout.MoreFlag : (byte)0;
        System.Buffers.BuffersExtensions.CopyTo(data, payload[CellLayout.RelayHeaderSize..]);
    }

    /// <summary>Reads the header of a recognised relay cell body.</summary>
    /// <exception cref="OnionFormatException">An unknown command, a length past the body, unknown flags.</exception>
    public static RelayHeader ReadRelayHeader(ReadOnlySpan<byte> body)
    {
        var payload = body[LayerCipher.TagSize..];
        int capacity = payload.Length - CellLayout.RelayHeaderSize;
        var command = (RelayCommand)payload[0];
        if (command is < RelayCommand.Data or > RelayCommand.Introduced) throw new OnionFormatException($"unknown relay command {payload[0]}");
        ushort stream = BinaryPrimitives.ReadUInt16BigEndian(payload[1..]);
        int length = BinaryPrimitives.ReadUInt16BigEndian(payload[3..]);
        if (length > capacity) throw new OnionFormatException($"relay cell claims {length} data bytes, at most {capacity} fit");
        byte flags = payload[5];
        if ((flags & ~CellLayout.MoreFlag) != 0) throw new OnionFormatException($"unknown relay flags 0x{flags:x2}");
        return new RelayHeader(command, stream, length, (flags & CellLayout.MoreFlag) != 0);
    }

    /// <summary>The data of a recognised relay cell body whose header was read.</summary>
    public static ReadOnlySpan<byte> RelayData(ReadOnlySpan<byte> body, in RelayHeader header) =>
        body.Slice(LayerCipher.TagSize + CellLayout.RelayHeaderSize, header.Length);
}

/// <summary>The header of a relay cell's plaintext.</summary>
public readonly record struct RelayHeader(RelayCommand Command, ushort StreamId, int Length, bool More);
