using System.IO.Pipelines;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Benchmarks.Padding;

/// <summary>
/// Counts the bytes a host writes to its TCP sockets (what an observer on the link sees as TCP payload): a connection
/// protector that passes every raw connection through unchanged, counting in the writer's <c>Advance</c>. No copy,
/// no extra task, no extra hop (unlike a forwarding proxy, which would add two socket hops to every round trip).
/// </summary>
internal sealed class WireCounter : IConnectionProtector
{
    private long _sent;

    /// <summary>Bytes written to all raw connections of this host so far.</summary>
    public long Sent => Interlocked.Read(ref _sent);

    public ValueTask<IRawConnection> ProtectAsync(IRawConnection connection, CancellationToken cancellationToken) =>
        ValueTask.FromResult<IRawConnection>(new CountedConnection(connection, this));

    private sealed class CountedConnection(IRawConnection inner, WireCounter counter) : IRawConnection
    {
        private readonly CountingWriter _output = new(inner.Output, counter);

        public PipeReader Input => inner.Input;

        public PipeWriter Output => _output;

        public Multiaddr LocalAddress => inner.LocalAddress;

        public Multiaddr RemoteAddress => inner.RemoteAddress;

        public Direction Direction => inner.Direction;

        public ConnectionLimits? Limits => inner.Limits;

        public bool IsAnonymous => inner.IsAnonymous;

        public ILocalIdentity? LocalIdentity => inner.LocalIdentity;

        public IReadOnlyList<string>? RequiredInboundFilters => inner.RequiredInboundFilters;

        public IAdmissionTicket? Admission => inner.Admission;

        public void Abort() => inner.Abort();

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }

    private sealed class CountingWriter(PipeWriter inner, WireCounter counter) : PipeWriter
    {
        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

        public override void Advance(int bytes)
        {
            Interlocked.Add(ref counter._sent, bytes);
            inner.Advance(bytes);
        }

        public override ValueTask<FlushResult> WriteAsync(ReadOnlyMemory<byte> source, CancellationToken cancellationToken = default)
        {
            Interlocked.Add(ref counter._sent, source.Length);
            return inner.WriteAsync(source, cancellationToken);
        }

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

        public override long UnflushedBytes => inner.UnflushedBytes;
    }
}
