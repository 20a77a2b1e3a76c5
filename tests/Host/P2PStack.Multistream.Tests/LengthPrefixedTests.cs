using System.Buffers;
using System.IO.Pipelines;
using P2PStack.Encoding;
using P2PStack.IO;

namespace P2PStack.Multistream.Tests;

public class LengthPrefixedTests
{
    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] bytes, Segment? previous)
        {
            Memory = bytes;
            if (previous is not null)
            {
                RunningIndex = previous.RunningIndex + previous.Memory.Length;
                previous.Next = this;
            }
        }
    }

    /// <summary>One segment per byte: every prefix straddles segment borders.</summary>
    private static ReadOnlySequence<byte> Fragmented(byte[] bytes)
    {
        if (bytes.Length == 0) return ReadOnlySequence<byte>.Empty;
        var first = new Segment([bytes[0]], null);
        Segment last = first;
        for (int i = 1; i < bytes.Length; i++) last = new Segment([bytes[i]], last);
        return new ReadOnlySequence<byte>(first, 0, last, 1);
    }

    [Fact]
    public void Reads_messages_across_segments_and_reports_partial_input()
    {
        byte[] body = Enumerable.Range(0, 300).Select(i => (byte)i).ToArray();
        var writer = new ArrayBufferWriter<byte>();
        LengthPrefixed.WriteMessage(writer, body);
        LengthPrefixed.WriteMessage(writer, ReadOnlySpan<byte>.Empty);
        byte[] wire = writer.WrittenSpan.ToArray();
        Assert.Equal(new byte[] { 0xAC, 0x02 }, wire[..2]);
        Assert.Equal(LengthPrefixed.GetEncodedLength(300) + 1, wire.Length);

        for (int cut = 0; cut < wire.Length - 1; cut++)
        {
            var partial = Fragmented(wire[..cut]);
            if (cut < 302) Assert.False(LengthPrefixed.TryReadMessage(ref partial, 1000, out _));
        }

        var buffer = Fragmented(wire);
        Assert.True(LengthPrefixed.TryReadMessage(ref buffer, 1000, out var first));
        Assert.Equal(body, first.ToArray());
        Assert.True(LengthPrefixed.TryReadMessage(ref buffer, 1000, out var empty));
        Assert.True(empty.IsEmpty);
        Assert.True(buffer.IsEmpty);
    }

    [Fact]
    public void Oversized_and_malformed_prefixes_throw_typed_errors()
    {
        var big = new ReadOnlySequence<byte>(Varint.Encode(1001));
        var e = Assert.Throws<LengthPrefixException>(() => LengthPrefixed.TryReadMessage(ref big, 1000, out _));
        Assert.Contains("1001", e.Message);
        var overlong = new ReadOnlySequence<byte>([0x81, 0x00]);
        Assert.Throws<VarintException>(() => LengthPrefixed.TryReadMessage(ref overlong, 1000, out _));
        var tooMany = Fragmented([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
        Assert.Throws<VarintException>(() => LengthPrefixed.TryReadMessage(ref tooMany, 1000, out _));
    }

    [Fact]
    public void Random_input_never_throws_untyped()
    {
        var random = new Random(42);
        for (int i = 0; i < 2000; i++)
        {
            byte[] bytes = new byte[random.Next(0, 20)];
            random.NextBytes(bytes);
            var buffer = random.Next(2) == 0 ? Fragmented(bytes) : new ReadOnlySequence<byte>(bytes);
            try
            {
                while (LengthPrefixed.TryReadMessage(ref buffer, 64, out var message)) Assert.True(message.Length <= 64);
            }
            catch (P2PFormatException)
            {
            }
        }
    }

    [Fact]
    public async Task Pipe_reader_helpers_read_pooled_messages_and_clean_end()
    {
        var pipe = new Pipe();
        LengthPrefixed.WriteMessage(pipe.Writer, "abc"u8);
        LengthPrefixed.WriteMessage(pipe.Writer, new ReadOnlySequence<byte>("de"u8.ToArray()));
        await pipe.Writer.FlushAsync();
        await pipe.Writer.CompleteAsync();

        using (PooledMessage first = await LengthPrefixed.ReadMessageAsync(pipe.Reader, 10, default))
            Assert.Equal("abc"u8.ToArray(), first.Span.ToArray());
        using (PooledMessage? second = await LengthPrefixed.ReadMessageOrEndAsync(pipe.Reader, 10, default))
            Assert.Equal("de"u8.ToArray(), second!.Span.ToArray());
        Assert.Null(await LengthPrefixed.ReadMessageOrEndAsync(pipe.Reader, 10, default));
        await Assert.ThrowsAsync<EndOfStreamException>(() => LengthPrefixed.ReadMessageAsync(pipe.Reader, 10, default).AsTask());
    }

    [Fact]
    public async Task Truncated_message_at_end_of_stream_is_end_of_stream()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(new byte[] { 0x05, 1, 2 });
        await pipe.Writer.CompleteAsync();
        var e = await Assert.ThrowsAsync<EndOfStreamException>(() => LengthPrefixed.ReadMessageOrEndAsync(pipe.Reader, 10, default).AsTask());
        Assert.Contains("3 bytes", e.Message);
    }

    [Fact]
    public async Task Protobuf_messages_are_written_with_their_size()
    {
        var key = new P2PStack.Identity.Pb.PublicKey { Type = P2PStack.Identity.Pb.KeyType.Ed25519, Data = Google.Protobuf.ByteString.CopyFrom(new byte[32]) };
        var pipe = new Pipe();
        LengthPrefixed.WriteMessage(pipe.Writer, key);
        await pipe.Writer.FlushAsync();
        var parsed = await LengthPrefixed.ReadMessageAsync(pipe.Reader, 100, seq => P2PStack.Identity.Pb.PublicKey.Parser.ParseFrom(seq), default);
        Assert.Equal(key, parsed);
    }

    [Fact]
    public async Task Cancelled_read_before_the_prefix_is_whole_leaves_the_data()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(new byte[] { 0x82 }); // first byte of the prefix of a 130-byte message
        using var cts = new CancellationTokenSource();
        var read = LengthPrefixed.ReadMessageAsync(pipe.Reader, 1000, cts.Token).AsTask();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read.WaitAsync(Scripted.Patience));
        byte[] body = Enumerable.Range(0, 130).Select(i => (byte)i).ToArray();
        await pipe.Writer.WriteAsync(new byte[] { 0x01 }.Concat(body).ToArray());
        using PooledMessage message = await LengthPrefixed.ReadMessageAsync(pipe.Reader, 1000, default);
        Assert.Equal(body, message.Span.ToArray());
    }

    /// <summary>A reader over a credit-based source: the writer may only have <c>window</c> bytes outstanding
    /// beyond what the reader consumed (what a yamux stream does with its receive window).</summary>
    private sealed class CreditedReader(PipeReader inner) : PipeReader
    {
        private ReadOnlySequence<byte> _last;
        private long _consumed;
        public readonly SemaphoreSlim Credit = new(0);
        public long Consumed => Interlocked.Read(ref _consumed);

        public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            var result = await inner.ReadAsync(cancellationToken);
            _last = result.Buffer;
            return result;
        }

        public override bool TryRead(out ReadResult result)
        {
            bool read = inner.TryRead(out result);
            if (read) _last = result.Buffer;
            return read;
        }

        public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            long bytes = _last.Slice(_last.Start, consumed).Length;
            inner.AdvanceTo(consumed, examined);
            if (bytes > 0)
            {
                Interlocked.Add(ref _consumed, bytes);
                Credit.Release();
            }
        }

        public override void CancelPendingRead() => inner.CancelPendingRead();
        public override void Complete(Exception? exception = null) => inner.Complete(exception);
    }

    /// <summary>A flow-controlled source must see a message longer than its window consumed as it arrives, or
    /// neither side ever moves (the yamux case: credit comes back only for consumed bytes).</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Message_larger_than_the_source_window_is_consumed_as_it_arrives(bool generic)
    {
        const int window = 1024;
        var pipe = new Pipe(new PipeOptions(pauseWriterThreshold: 0, useSynchronizationContext: false));
        var reader = new CreditedReader(pipe.Reader);
        byte[] body = new byte[100_000];
        new Random(7).NextBytes(body);
        using var stop = new CancellationTokenSource(Scripted.Patience);
        var write = Task.Run(async () =>
        {
            var framed = new ArrayBufferWriter<byte>();
            LengthPrefixed.WriteMessage(framed, body);
            LengthPrefixed.WriteMessage(framed, "end"u8);
            for (int offset = 0; offset < framed.WrittenCount;)
            {
                int chunk = (int)Math.Min(window - (offset - reader.Consumed), framed.WrittenCount - offset);
                if (chunk <= 0)
                {
                    await reader.Credit.WaitAsync(stop.Token); // no window left: wait for the reader to consume
                    continue;
                }
                await pipe.Writer.WriteAsync(framed.WrittenMemory.Slice(offset, chunk));
                offset += chunk;
            }
            await pipe.Writer.CompleteAsync();
        });

        byte[] received = generic
            ? await LengthPrefixed.ReadMessageAsync(reader, body.Length, seq => seq.ToArray(), stop.Token)
            : (await LengthPrefixed.ReadMessageAsync(reader, body.Length, stop.Token)).Span.ToArray();
        Assert.Equal(body, received);
        using (PooledMessage? end = await LengthPrefixed.ReadMessageOrEndAsync(reader, 10, stop.Token))
            Assert.Equal("end"u8.ToArray(), end!.Span.ToArray());
        Assert.Null(await LengthPrefixed.ReadMessageOrEndAsync(reader, 10, stop.Token));
        await write;
    }

    [Fact]
    public async Task Message_truncated_while_being_assembled_is_end_of_stream()
    {
        var pipe = new Pipe();
        await pipe.Writer.WriteAsync(new byte[] { 0x90, 0x4e, 1, 2, 3 }); // 10,000 bytes announced
        var read = LengthPrefixed.ReadMessageAsync(pipe.Reader, 20_000, default).AsTask();
        await pipe.Writer.WriteAsync(new byte[5000]);
        await pipe.Writer.CompleteAsync();
        var e = await Assert.ThrowsAsync<EndOfStreamException>(() => read.WaitAsync(Scripted.Patience));
        Assert.Contains("5005 bytes", e.Message);
    }
}
