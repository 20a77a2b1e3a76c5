using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;

namespace P2PStack.Privacy.Padding;

/// <summary>
/// The wire format of <c>/synaptic/padding/1.0.0</c> (docs/specs/padding.md), pure and allocation-free: the hello
/// each side sends first, the agreement on cell sizes, and cells. Everything here travels inside the secure channel.
/// </summary>
public static class PaddingWire
{
    /// <summary>The multistream-select protocol id of the filter.</summary>
    public const string ProtocolId = "/synaptic/padding/1.0.0";

    /// <summary>Version byte of the hello.</summary>
    public const byte Version = 1;

    /// <summary>Bytes of a hello, whatever the sizes it lists (the rest is random).</summary>
    public const int HelloSize = 32;

    /// <summary>At most this many cell sizes in a hello.</summary>
    public const int MaxCellSizes = 8;

    /// <summary>Smallest cell, header included.</summary>
    public const int MinCellSize = 64;

    /// <summary>Largest cell, header included: one TLS record's plaintext, well within one Noise message.</summary>
    public const int MaxCellSize = 16384;

    /// <summary>Cell header: the size index (1 byte) and the payload length (2 bytes, big-endian).</summary>
    public const int CellHeaderSize = 3;

    /// <summary>Writes a hello listing <paramref name="cellSizes"/> (validated, ascending) into
    /// <paramref name="destination"/> (<see cref="HelloSize"/> bytes); unused bytes are random.</summary>
    public static void WriteHello(Span<byte> destination, ReadOnlySpan<int> cellSizes)
    {
        ValidateSizes(cellSizes);
        var hello = destination[..HelloSize];
        RandomNumberGenerator.Fill(hello);
        hello[0] = Version;
        hello[1] = (byte)cellSizes.Length;
        for (int i = 0; i < cellSizes.Length; i++)
            BinaryPrimitives.WriteUInt16BigEndian(hello[(2 + 2 * i)..], (ushort)cellSizes[i]);
    }

    /// <summary>Reads the cell sizes of a hello; throws <see cref="PaddingFormatException"/> on anything malformed.</summary>
    public static int[] ReadHello(ReadOnlySpan<byte> hello)
    {
        if (hello.Length < HelloSize) throw new PaddingFormatException($"a padding hello has {HelloSize} bytes, got {hello.Length}");
        if (hello[0] != Version) throw new PaddingFormatException($"padding hello version {hello[0]} is not {Version}");
        int count = hello[1];
        if (count is 0 or > MaxCellSizes)
            throw new PaddingFormatException($"a padding hello lists 1 to {MaxCellSizes} cell sizes, not {count}");
        var sizes = new int[count];
        for (int i = 0; i < count; i++)
        {
            sizes[i] = BinaryPrimitives.ReadUInt16BigEndian(hello[(2 + 2 * i)..]);
            if (sizes[i] is < MinCellSize or > MaxCellSize)
                throw new PaddingFormatException($"padding cell size {sizes[i]} is outside {MinCellSize}..{MaxCellSize}");
            if (i > 0 && sizes[i] <= sizes[i - 1])
                throw new PaddingFormatException("padding cell sizes must be strictly increasing");
        }
        return sizes;
    }

    /// <summary>The cell sizes both ends may use: the intersection, ascending. Both ends compute the same list, and a
    /// cell's size index refers to it.</summary>
    public static int[] Agree(ReadOnlySpan<int> local, ReadOnlySpan<int> remote)
    {
        var agreed = new List<int>(local.Length);
        foreach (int size in local)
        {
            if (remote.Contains(size)) agreed.Add(size);
        }
        if (agreed.Count == 0)
            throw new PaddingNegotiationException(
                $"no common padding cell size (local {string.Join(",", local.ToArray())}, remote {string.Join(",", remote.ToArray())})");
        return [.. agreed];
    }

    /// <summary>Checks a configured list of cell sizes: 1 to <see cref="MaxCellSizes"/>, each in range, ascending.</summary>
    public static void ValidateSizes(ReadOnlySpan<int> cellSizes)
    {
        if (cellSizes.Length is 0 or > MaxCellSizes)
            throw new ArgumentException($"padding needs 1 to {MaxCellSizes} cell sizes, not {cellSizes.Length}", nameof(cellSizes));
        for (int i = 0; i < cellSizes.Length; i++)
        {
            if (cellSizes[i] is < MinCellSize or > MaxCellSize)
                throw new ArgumentException($"padding cell size {cellSizes[i]} is outside {MinCellSize}..{MaxCellSize}", nameof(cellSizes));
            if (i > 0 && cellSizes[i] <= cellSizes[i - 1])
                throw new ArgumentException("padding cell sizes must be strictly increasing", nameof(cellSizes));
        }
    }

    /// <summary>Payload bytes a cell of <paramref name="cellSize"/> carries.</summary>
    public static int Capacity(int cellSize) => cellSize - CellHeaderSize;

    /// <summary>
    /// The size index for a burst of <paramref name="length"/> payload bytes: the smallest cell that holds it whole,
    /// else the largest (the burst then takes several cells of that size).
    /// </summary>
    public static int ChooseSize(ReadOnlySpan<int> agreed, long length)
    {
        for (int i = 0; i < agreed.Length; i++)
        {
            if (Capacity(agreed[i]) >= length) return i;
        }
        return agreed.Length - 1;
    }

    /// <summary>Writes one cell: header, <paramref name="payload"/> (at most the cell's capacity) and random padding,
    /// exactly <c>agreed[index]</c> bytes into <paramref name="cell"/>.</summary>
    public static void WriteCell(Span<byte> cell, ReadOnlySpan<int> agreed, int index, ReadOnlySequence<byte> payload)
    {
        int size = agreed[index];
        if (payload.Length > Capacity(size)) throw new ArgumentException("payload larger than the cell", nameof(payload));
        cell = cell[..size];
        cell[0] = (byte)index;
        BinaryPrimitives.WriteUInt16BigEndian(cell[1..], (ushort)payload.Length);
        payload.CopyTo(cell[CellHeaderSize..]);
        // Padding is random inside the encryption: never a recognisable pattern, whatever the channel under it.
        RandomNumberGenerator.Fill(cell[(CellHeaderSize + (int)payload.Length)..]);
    }

    /// <summary>
    /// Reads the header at the start of <paramref name="buffer"/> (which holds at least one byte): the cell's size and
    /// payload length. False when the header is not complete yet; throws <see cref="PaddingFormatException"/> on a
    /// size index outside <paramref name="agreed"/> or a length beyond the cell.
    /// </summary>
    public static bool TryReadHeader(ReadOnlySequence<byte> buffer, ReadOnlySpan<int> agreed, out int cellSize, out int payloadLength)
    {
        cellSize = 0;
        payloadLength = 0;
        if (buffer.Length < CellHeaderSize) return false;
        Span<byte> header = stackalloc byte[CellHeaderSize];
        buffer.Slice(0, CellHeaderSize).CopyTo(header);
        int index = header[0];
        if (index >= agreed.Length)
            throw new PaddingFormatException($"padding cell size index {index} is not one of the {agreed.Length} agreed sizes");
        cellSize = agreed[index];
        payloadLength = BinaryPrimitives.ReadUInt16BigEndian(header[1..]);
        if (payloadLength > Capacity(cellSize))
            throw new PaddingFormatException($"padding cell of {cellSize} bytes announces {payloadLength} payload bytes, more than {Capacity(cellSize)}");
        return true;
    }
}
