using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using P2PStack.Network;

namespace P2PStack.Protocols.Perf;

/// <summary>
/// Wire logic of <c>/perf/1.0.0</c> (libp2p perf spec): the client sends the number of bytes it wants back as a
/// big-endian u64, then its upload, then closes its write side; the server drains the upload, then sends the
/// requested bytes and closes.
/// </summary>
public static class PerfProtocol
{
    public const string Id = "/perf/1.0.0";

    private const int ChunkSize = 64 * 1024;

    public static async ValueTask WriteSizeAsync(PipeWriter writer, ulong size, CancellationToken cancellationToken)
    {
        BinaryPrimitives.WriteUInt64BigEndian(writer.GetSpan(8), size);
        writer.Advance(8);
        await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <exception cref="InvalidDataException">The stream ended before the 8-byte size.</exception>
    public static async ValueTask<ulong> ReadSizeAsync(PipeReader reader, CancellationToken cancellationToken)
    {
        var result = await reader.ReadAtLeastAsync(8, cancellationToken).ConfigureAwait(false);
        if (result.Buffer.Length < 8)
        {
            reader.AdvanceTo(result.Buffer.End);
            throw new InvalidDataException("perf stream ended before the 8-byte size");
        }
        Span<byte> size = stackalloc byte[8];
        result.Buffer.Slice(0, 8).CopyTo(size);
        reader.AdvanceTo(result.Buffer.GetPosition(8));
        return BinaryPrimitives.ReadUInt64BigEndian(size);
    }

    // What is sent: zeros, never written to. One shared block, so no chunk is cleared before it goes out.
    private static readonly byte[] Zeros = new byte[ChunkSize];

    /// <summary>Writes <paramref name="count"/> zero bytes in 64 KiB chunks, honouring backpressure.</summary>
    public static async ValueTask WriteBytesAsync(PipeWriter writer, ulong count, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(writer);
        while (count > 0)
        {
            int chunk = (int)Math.Min(count, ChunkSize);
            // WriteAsync lets the writer take the bytes where they are (a yamux stream frames them straight from this
            // block into the connection) instead of clearing a buffer of its own and copying out of it.
            var flush = await writer.WriteAsync(Zeros.AsMemory(0, chunk), cancellationToken).ConfigureAwait(false);
            count -= (ulong)chunk;
            if (flush.IsCompleted) throw new IOException("the perf stream was closed by the remote while sending");
        }
    }

    /// <summary>Reads and discards until the end of the stream; returns the number of bytes read.</summary>
    public static ValueTask<ulong> DrainAsync(PipeReader reader, CancellationToken cancellationToken) =>
        DrainAsync(reader, ulong.MaxValue, cancellationToken);

    /// <summary>Reads and discards until the end of the stream, at most <paramref name="maxBytes"/>; returns the number
    /// of bytes read.</summary>
    /// <exception cref="ResourceLimitExceededException">More than <paramref name="maxBytes"/> arrived.</exception>
    public static async ValueTask<ulong> DrainAsync(PipeReader reader, ulong maxBytes, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ulong total = 0;
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            total += (ulong)result.Buffer.Length;
            reader.AdvanceTo(result.Buffer.End);
            if (total > maxBytes)
                throw new ResourceLimitExceededException("perf stream", "upload bytes", (long)Math.Min(maxBytes, long.MaxValue));
            if (result.IsCompleted || result.IsCanceled) return total;
        }
    }
}
