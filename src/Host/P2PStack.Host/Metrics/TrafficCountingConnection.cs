using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using P2PStack.Network;

namespace P2PStack.Host.Metrics;

/// <summary>Bytes moved by the connections of one transport; shared by them, updated with atomic adds.</summary>
internal sealed class TrafficCounter
{
    public long Sent;
    public long Received;
}

/// <summary>
/// A raw connection that counts the bytes written to and consumed from it: wire bytes (handshakes, encryption
/// overhead, muxer frames) whatever security and muxer run above. One atomic add per write or read, no allocation.
/// </summary>
internal sealed class TrafficCountingConnection(IRawConnection inner, TrafficCounter counter) : DelegatingRawConnection(inner)
{
    private readonly CountingReader _input = new(inner.Input, counter);
    private readonly CountingWriter _output = new(inner.Output, counter);

    public override PipeReader Input => _input;

    public override PipeWriter Output => _output;

    private sealed class CountingWriter(PipeWriter inner, TrafficCounter counter) : PipeWriter
    {
        public override void Advance(int bytes)
        {
            inner.Advance(bytes);
            Interlocked.Add(ref counter.Sent, bytes);
        }

        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) =>
            inner.FlushAsync(cancellationToken);

        public override ValueTask<FlushResult> WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
        {
            Interlocked.Add(ref counter.Sent, source.Length);
            return inner.WriteAsync(source, cancellationToken);
        }

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

        public override long UnflushedBytes => inner.UnflushedBytes;
    }

    // Counts what the reader consumes, so bytes examined twice across reads are counted once.
    private sealed class CountingReader(PipeReader inner, TrafficCounter counter) : PipeReader
    {
        private ReadOnlySequence<byte> _lastBuffer;

        public override ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            var pending = inner.ReadAsync(cancellationToken);
            if (!pending.IsCompletedSuccessfully) return AwaitReadAsync(pending);
            var result = pending.Result;
            _lastBuffer = result.Buffer;
            return new ValueTask<ReadResult>(result);
        }

        // Pooled state machine: a read that has to wait allocates nothing either.
        [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
        private async ValueTask<ReadResult> AwaitReadAsync(ValueTask<ReadResult> pending)
        {
            var result = await pending.ConfigureAwait(false);
            _lastBuffer = result.Buffer;
            return result;
        }

        public override bool TryRead(out ReadResult result)
        {
            if (!inner.TryRead(out result)) return false;
            _lastBuffer = result.Buffer;
            return true;
        }

        public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            long count = _lastBuffer.Length - _lastBuffer.Slice(consumed).Length;
            inner.AdvanceTo(consumed, examined);
            _lastBuffer = default;
            if (count > 0) Interlocked.Add(ref counter.Received, count);
        }

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);
    }
}
