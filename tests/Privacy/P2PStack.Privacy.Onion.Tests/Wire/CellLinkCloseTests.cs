using System.IO.Pipelines;
using P2PStack.Network;
using P2PStack.Privacy.Onion.Wire;

namespace P2PStack.Privacy.Onion.Tests.Wire;

/// <summary>A link's close and its writers: the stream (whose dispose hands the output's buffer back to the pool) is
/// disposed only once no writer is between taking a cell's bytes and committing them.</summary>
public class CellLinkCloseTests
{
    private static readonly CellLayout Layout = new(new OnionOptions().CellSize);

    [Fact]
    public async Task Close_waits_for_a_writer_between_begin_and_commit_before_disposing_the_stream()
    {
        var stream = new RecordingStream();
        var link = new CellLink(stream, Layout);
        await link.LockAsync(CancellationToken.None);
        link.Begin().Fill(7);

        var closing = link.CloseAsync(abort: false, writerWait: TimeSpan.FromSeconds(30));
        await Task.Delay(100);
        Assert.False(stream.Disposed); // before: disposed at once, under the writer's feet
        Assert.True(link.IsClosed);

        link.Commit();
        link.Unlock();
        await closing.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.True(stream.Disposed);
        Assert.Equal(0, stream.Resets);
    }

    [Fact]
    public async Task A_writer_that_keeps_the_lock_has_its_stream_reset_and_the_close_still_ends()
    {
        var stream = new RecordingStream();
        var link = new CellLink(stream, Layout);
        await link.LockAsync(CancellationToken.None); // a writer stuck in a flush that never completes

        await link.CloseAsync(abort: false, writerWait: TimeSpan.FromMilliseconds(50)).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, stream.Resets);
        Assert.True(stream.Disposed);
    }

    private sealed class RecordingStream : IStream
    {
        private readonly Pipe _in = new();
        private readonly Pipe _out = new();

        public int Resets { get; private set; }

        public bool Disposed { get; private set; }

        public PipeReader Input => _in.Reader;

        public PipeWriter Output => _out.Writer;

        public string Protocol => "/test/1.0.0";

        public IConnection Connection => throw new NotSupportedException();

        public Direction Direction => Direction.Outbound;

        public void Reset() => Resets++;

        public ValueTask DisposeAsync()
        {
            Disposed = true;
            _out.Writer.Complete();
            return ValueTask.CompletedTask;
        }
    }
}
