using System.IO.Pipelines;
using P2PStack.Network;
using P2PStack.Privacy.Onion.Wire;
using P2PStack.Testing;

namespace P2PStack.Privacy.Onion.Tests.Wire;

/// <summary>The muxer's send buffer grows inside the connection's resource scope (yamux's send buffer): its refusal, a
/// <see cref="ResourceLimitExceededException"/> (an <see cref="InvalidOperationException"/>), reaches the circuit's loops
/// as an <see cref="IOException"/>, the link's failure, and not as the internal error an open link's
/// <see cref="InvalidOperationException"/> means.</summary>
public class CellLinkResourceLimitTests
{
    private static readonly CellLayout Layout = new(new OnionOptions().CellSize);

    public enum Step { Begin, BeginBatch, Commit, CommitBatch, Flush }

    [Theory]
    [InlineData(Step.Begin)]
    [InlineData(Step.BeginBatch)]
    [InlineData(Step.Commit)]
    [InlineData(Step.CommitBatch)]
    [InlineData(Step.Flush)]
    public async Task A_send_buffer_refusal_is_the_links_IOException_and_the_link_stays_open(Step step)
    {
        var output = new RefusingWriter(new Pipe().Writer) { RefuseAt = step };
        var link = new CellLink(new WriterStream(output), Layout);
        await link.LockAsync(CancellationToken.None);

        var error = await Record.ExceptionAsync(async () =>
        {
            link.Begin(step == Step.CommitBatch || step == Step.BeginBatch ? 3 : 1);
            if (step == Step.CommitBatch) link.Commit(3);
            else link.Commit();
            await link.FlushAsync(CancellationToken.None);
        });

        var io = Assert.IsType<IOException>(error); // exactly the link's failure: not LinkClosedException, not the refusal
        Assert.IsType<ResourceLimitExceededException>(io.InnerException);
        Assert.Contains("resource limit", io.Message, StringComparison.Ordinal);
        Assert.False(link.IsClosed);
        link.Unlock();
    }

    /// <summary>A pipe writer whose chosen step refuses as a send buffer at its resource limit does.</summary>
    private sealed class RefusingWriter(PipeWriter inner) : DelegatingPipeWriter(inner)
    {
        public Step RefuseAt { get; init; }

        private static ResourceLimitExceededException Refusal() => new("connection", "memory", 1 << 20);

        public override Span<byte> GetSpan(int sizeHint = 0)
        {
            if (RefuseAt is Step.Begin or Step.BeginBatch) throw Refusal();
            return base.GetSpan(sizeHint);
        }

        public override void Advance(int bytes)
        {
            if (RefuseAt is Step.Commit or Step.CommitBatch) throw Refusal();
            base.Advance(bytes);
        }

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            if (RefuseAt is Step.Flush) throw Refusal();
            return base.FlushAsync(cancellationToken);
        }
    }

    private sealed class WriterStream(PipeWriter output) : IStream
    {
        private readonly Pipe _in = new();

        public PipeReader Input => _in.Reader;

        public PipeWriter Output => output;

        public string Protocol => "/test/1.0.0";

        public IConnection Connection => throw new NotSupportedException();

        public Direction Direction => Direction.Outbound;

        public void Reset()
        {
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
