using System.Buffers;
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

    [Fact]
    public async Task Cells_taken_in_a_batch_are_whole_cells_counted_once_committed()
    {
        var stream = new RecordingStream();
        var link = new CellLink(stream, Layout);
        await link.LockAsync(CancellationToken.None);
        Assert.Equal(link.CellsPerFlush, link.CellsBeforeFlush);

        var cells = link.Begin(5);
        Assert.Equal(5 * Layout.CellSize, cells.Length);
        for (int i = 0; i < 5; i++) cells.Slice(i * Layout.CellSize, Layout.CellSize).Fill((byte)(i + 1));
        Assert.Equal(0, link.CellsWritten);
        link.Commit(5);
        Assert.Equal(5, link.CellsWritten);
        Assert.Equal(link.CellsPerFlush - 5, link.CellsBeforeFlush);

        var rest = link.Begin(link.CellsBeforeFlush);
        Assert.Equal((link.CellsPerFlush - 5) * Layout.CellSize, rest.Length);
        link.Commit(rest.Length / Layout.CellSize);
        Assert.True(link.FlushDue);
        Assert.Equal(1, link.CellsBeforeFlush);
        await link.FlushAsync(CancellationToken.None);
        link.Unlock();

        var written = await stream.Written.ReadAtLeastAsync(link.CellsPerFlush * Layout.CellSize);
        Assert.Equal(link.CellsPerFlush * Layout.CellSize, written.Buffer.Length);
        var firstFive = written.Buffer.Slice(0, 5 * Layout.CellSize).ToArray();
        for (int i = 0; i < 5; i++) Assert.All(firstFive.AsSpan(i * Layout.CellSize, Layout.CellSize).ToArray(), b => Assert.Equal((byte)(i + 1), b));
    }

    private sealed class RecordingStream : IStream
    {
        private readonly Pipe _in = new();
        private readonly Pipe _out = new();

        public int Resets { get; private set; }

        public bool Disposed { get; private set; }

        public PipeReader Input => _in.Reader;

        public PipeWriter Output => _out.Writer;

        /// <summary>What was written to the stream.</summary>
        public PipeReader Written => _out.Reader;

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
