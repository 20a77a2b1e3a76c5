using System.Buffers;
using System.IO.Pipelines;
using Google.Protobuf;
using P2PStack.Encoding;

namespace P2PStack.IO;

/// <summary>A length prefix announced a message longer than the reader's limit.</summary>
public sealed class LengthPrefixException(string message) : P2PFormatException(message);

/// <summary>
/// Messages framed as an unsigned varint byte count followed by that many bytes: the framing of multistream-select,
/// identify, kad-dht, gossipsub and most other libp2p protocols. Readers enforce a caller-supplied maximum before
/// waiting for the body, so a peer cannot make us buffer more than the limit.
/// </summary>
public static class LengthPrefixed
{
    /// <summary>
    /// Takes one whole message off the front of <paramref name="buffer"/>. Returns <c>false</c> (leaving the buffer
    /// untouched) when the prefix or the body has not fully arrived yet.
    /// </summary>
    /// <exception cref="VarintException">The prefix is not a valid minimal varint.</exception>
    /// <exception cref="LengthPrefixException">The announced length exceeds <paramref name="maxLength"/>.</exception>
    public static bool TryReadMessage(ref ReadOnlySequence<byte> buffer, int maxLength, out ReadOnlySequence<byte> message)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxLength);
        if (!TryReadLength(buffer, maxLength, out int length, out int prefixLength) || buffer.Length - prefixLength < length)
        {
            message = default;
            return false;
        }
        message = buffer.Slice(prefixLength, length);
        buffer = buffer.Slice(message.End);
        return true;
    }

    private static bool TryReadLength(in ReadOnlySequence<byte> buffer, int maxLength, out int length, out int prefixLength)
    {
        scoped ReadOnlySpan<byte> head = buffer.FirstSpan;
        Span<byte> joined = stackalloc byte[Varint.MaxLength];
        if (head.Length < Varint.MaxLength && buffer.Length > head.Length)
        {
            // The prefix may straddle segments: copy at most 9 bytes so the varint decoder sees them contiguous.
            int available = (int)Math.Min(buffer.Length, Varint.MaxLength);
            buffer.Slice(0, available).CopyTo(joined);
            head = joined[..available];
        }
        if (!Varint.TryReadPrefix(head, out ulong value, out prefixLength))
        {
            length = 0;
            return false;
        }
        if (value > (ulong)maxLength)
            throw new LengthPrefixException($"length-prefixed message announces {value} bytes, over the limit of {maxLength} bytes");
        length = (int)value;
        return true;
    }

    /// <summary>
    /// Reads one message and hands it to <paramref name="parse"/>; the sequence is only valid during the call. A
    /// message already whole in the reader's buffer is parsed in place; one still arriving is consumed as it arrives
    /// into a pooled buffer that grows with the bytes received (never ahead of them), so a flow-controlled stream
    /// (a yamux stream returns window credit only for consumed bytes) keeps granting credit while the message is
    /// incomplete, and messages larger than its window arrive.
    /// </summary>
    /// <remarks>Cancelling while a message is partly received leaves the stream inside that message: the caller must
    /// abandon (reset) the stream. Cancelling before its length prefix is complete leaves the stream untouched.</remarks>
    /// <exception cref="EndOfStreamException">The stream ended before a whole message arrived.</exception>
    public static async ValueTask<T> ReadMessageAsync<T>(PipeReader reader, int maxLength, Func<ReadOnlySequence<byte>, T> parse,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(parse);
        Frame frame = await ReadFrameAsync(reader, maxLength, cancellationToken).ConfigureAwait(false);
        if (frame.Assembled is { } assembled)
        {
            try
            {
                return parse(new ReadOnlySequence<byte>(assembled, 0, frame.Length));
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(assembled);
            }
        }

        try
        {
            return parse(frame.InPlace);
        }
        finally
        {
            reader.AdvanceTo(frame.InPlace.End);
        }
    }

    /// <summary>Reads one message into a pooled buffer the caller must dispose. Like
    /// <see cref="ReadMessageAsync{T}"/>, it consumes a message as it arrives (see the remarks there on cancelling).</summary>
    /// <exception cref="EndOfStreamException">The stream ended before a whole message arrived.</exception>
    public static async ValueTask<PooledMessage> ReadMessageAsync(PipeReader reader, int maxLength, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reader);
        Frame frame = await ReadFrameAsync(reader, maxLength, cancellationToken).ConfigureAwait(false);
        if (frame.Assembled is { } assembled)
        {
            return new PooledMessage(assembled, frame.Length); // takes over the rented array
        }

        try
        {
            return PooledMessage.CopyOf(frame.InPlace);
        }
        finally
        {
            reader.AdvanceTo(frame.InPlace.End);
        }
    }

    /// <summary>Either a message whole in the reader's buffer (not consumed yet: the caller advances past it) or one
    /// assembled into a rented array (already consumed: the caller returns or hands on the array).</summary>
    private readonly record struct Frame(ReadOnlySequence<byte> InPlace, byte[]? Assembled, int Length);

    /// <summary>Smallest buffer a message spanning reads is assembled into; it doubles as more bytes arrive.</summary>
    private const int MinAssemblyBuffer = 4096;

    private static async ValueTask<Frame> ReadFrameAsync(PipeReader reader, int maxLength, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxLength);
        while (true)
        {
            ReadResult result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            ReadOnlySequence<byte> buffer = result.Buffer;
            bool hasLength;
            int length, prefixLength;
            try
            {
                if (result.IsCanceled) throw new OperationCanceledException("the pending read was cancelled");
                hasLength = TryReadLength(buffer, maxLength, out length, out prefixLength);
                if (!hasLength && result.IsCompleted) throw EndOfStream(buffer.Length);
            }
            catch
            {
                reader.AdvanceTo(buffer.Start, buffer.End);
                throw;
            }

            if (!hasLength)
            {
                reader.AdvanceTo(buffer.Start, buffer.End); // the prefix is incomplete: wait for more
                continue;
            }

            if (buffer.Length - prefixLength >= length)
            {
                return new Frame(buffer.Slice(prefixLength, length), null, length);
            }

            return await AssembleAsync(reader, buffer.Slice(prefixLength), result.IsCompleted, length, cancellationToken)
                .ConfigureAwait(false);
        }
    }

    /// <summary>Consumes the body of a <paramref name="length"/>-byte message as it arrives; <paramref name="head"/>
    /// is the part already in the reader's buffer.</summary>
    private static async ValueTask<Frame> AssembleAsync(PipeReader reader, ReadOnlySequence<byte> head, bool completed, int length,
        CancellationToken cancellationToken)
    {
        int filled = (int)head.Length;
        byte[] array = ArrayPool<byte>.Shared.Rent(Math.Min(length, Math.Max(MinAssemblyBuffer, filled * 2)));
        try
        {
            head.CopyTo(array);
            reader.AdvanceTo(head.End);
            while (filled < length)
            {
                if (completed) throw EndOfStream(Varint.SizeOf((ulong)length) + filled);
                ReadResult result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                ReadOnlySequence<byte> buffer = result.Buffer;
                if (result.IsCanceled)
                {
                    reader.AdvanceTo(buffer.Start);
                    throw new OperationCanceledException("the pending read was cancelled");
                }

                int take = (int)Math.Min(buffer.Length, length - filled);
                if (filled + take > array.Length)
                {
                    array = Grow(array, filled, Math.Min(length, Math.Max(array.Length * 2, filled + take)));
                }

                buffer.Slice(0, take).CopyTo(array.AsSpan(filled));
                filled += take;
                reader.AdvanceTo(buffer.GetPosition(take));
                completed = result.IsCompleted;
            }

            return new Frame(default, array, length);
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(array);
            throw;
        }
    }

    private static byte[] Grow(byte[] array, int filled, int size)
    {
        byte[] larger = ArrayPool<byte>.Shared.Rent(size);
        array.AsSpan(0, filled).CopyTo(larger);
        ArrayPool<byte>.Shared.Return(array);
        return larger;
    }

    /// <summary>Like <see cref="ReadMessageAsync(PipeReader, int, CancellationToken)"/> but returns <c>null</c> when the
    /// stream ends cleanly between messages (a truncated message still throws).</summary>
    public static async ValueTask<PooledMessage?> ReadMessageOrEndAsync(PipeReader reader, int maxLength, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reader);
        while (true)
        {
            ReadResult result = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            if (result.Buffer.IsEmpty && result.IsCompleted)
            {
                reader.AdvanceTo(result.Buffer.End);
                return null;
            }
            reader.AdvanceTo(result.Buffer.Start);
            if (result.IsCanceled) throw new OperationCanceledException("the pending read was cancelled");
            return await ReadMessageAsync(reader, maxLength, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Bytes a message of <paramref name="payloadLength"/> bytes takes with its prefix.</summary>
    public static int GetEncodedLength(int payloadLength) => Varint.SizeOf((ulong)payloadLength) + payloadLength;

    /// <summary>Writes prefix and payload; the caller flushes.</summary>
    public static void WriteMessage(IBufferWriter<byte> writer, ReadOnlySpan<byte> payload)
    {
        ArgumentNullException.ThrowIfNull(writer);
        WritePrefix(writer, payload.Length);
        writer.Write(payload);
    }

    /// <summary>Writes prefix and payload; the caller flushes.</summary>
    public static void WriteMessage(IBufferWriter<byte> writer, in ReadOnlySequence<byte> payload)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (payload.Length > int.MaxValue) throw new ArgumentException("message is larger than 2 GiB", nameof(payload));
        WritePrefix(writer, (int)payload.Length);
        foreach (ReadOnlyMemory<byte> segment in payload) writer.Write(segment.Span);
    }

    /// <summary>Serialises a protobuf message straight into the writer behind its length prefix; the caller flushes.</summary>
    public static void WriteMessage(IBufferWriter<byte> writer, IMessage message)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(message);
        WritePrefix(writer, message.CalculateSize());
        message.WriteTo(writer);
    }

    /// <summary>Writes just the varint prefix for a payload of <paramref name="payloadLength"/> bytes.</summary>
    public static void WritePrefix(IBufferWriter<byte> writer, int payloadLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(payloadLength);
        Span<byte> span = writer.GetSpan(Varint.MaxLength);
        writer.Advance(Varint.Write((ulong)payloadLength, span));
    }

    private static EndOfStreamException EndOfStream(long buffered) => buffered == 0
        ? new EndOfStreamException("the stream ended before a length-prefixed message")
        : new EndOfStreamException($"the stream ended inside a length-prefixed message ({buffered} bytes of it received)");
}

/// <summary>A message body in a buffer rented from <see cref="ArrayPool{T}.Shared"/>; dispose to return it.</summary>
public sealed class PooledMessage : IMemoryOwner<byte>
{
    private byte[]? _array;
    private readonly int _length;

    internal PooledMessage(byte[] array, int length)
    {
        _array = array;
        _length = length;
    }

    internal static PooledMessage CopyOf(ReadOnlySequence<byte> source)
    {
        int length = (int)source.Length;
        byte[] array = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        source.CopyTo(array);
        return new PooledMessage(array, length);
    }

    public int Length => _length;

    public Memory<byte> Memory => new(_array ?? throw new ObjectDisposedException(nameof(PooledMessage)), 0, _length);

    public ReadOnlySpan<byte> Span => Memory.Span;

    public void Dispose()
    {
        byte[]? array = Interlocked.Exchange(ref _array, null);
        if (array is not null) ArrayPool<byte>.Shared.Return(array);
    }
}
