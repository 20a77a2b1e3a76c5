using System.Buffers;
using System.IO.Pipelines;
using P2PStack.Network;

namespace P2PStack.Security.Tls;

/// <summary>
/// A raw connection's pipes as the Stream SslStream wants: reads copy out of the input pipe, writes go to the output
/// pipe and flush. SslStream only uses the async methods; the sync ones exist for completeness.
/// </summary>
internal sealed class RawConnectionStream(IRawConnection raw) : Stream
{
    public override bool CanRead => true;

    public override bool CanWrite => true;

    public override bool CanSeek => false;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty) return 0;
        var input = raw.Input;
        while (true)
        {
            var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
            var data = result.Buffer;
            if (!data.IsEmpty)
            {
                int count = (int)Math.Min(data.Length, buffer.Length);
                var slice = data.Slice(0, count);
                slice.CopyTo(buffer.Span);
                input.AdvanceTo(slice.End);
                return count;
            }
            input.AdvanceTo(data.End);
            if (result.IsCompleted) return 0;
            if (result.IsCanceled) throw new OperationCanceledException("the read was cancelled");
        }
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var flush = await raw.Output.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        if (flush.IsCompleted) throw new IOException("the connection is closed for writing");
        if (flush.IsCanceled) throw new OperationCanceledException("the write was cancelled");
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
