using P2PStack.IO;
using P2PStack.Network;

namespace P2PStack.Muxers.Yamux.Tests;

/// <summary>A writer whose flush waits for send window (the remote stopped reading part way through a large write)
/// resets its stream, its flush cancelled first or not: the remote's reader, reading on, sees the reset and never
/// hangs. (Swarm signaling's host cuts a light peer that stops taking an answer this way.)</summary>
public sealed class YamuxResetPendingFlushTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private const int Chunk = 16 * 1024;

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, false)]
    [InlineData(true, true)]
    [InlineData(false, true)]
    public async Task A_reader_that_stopped_part_way_sees_the_reset_of_a_writer_waiting_for_window(bool cancelFirst, bool buffered)
    {
        var (a, b) = DuplexPipe.CreatePair();
        // The window never grows (as for a slow reader): the writer gets exactly what the reader consumed plus one window.
        var options = new YamuxOptions { EnableKeepAlive = false, MaxStreamWindowSize = YamuxOptions.SpecInitialWindow };
        await using var writerSession = new YamuxSession(a, Direction.Outbound, options);
        await using var readerSession = new YamuxSession(b, Direction.Inbound, options);
        var stream = await writerSession.OpenStreamAsync(CancellationToken.None);
        var accepting = readerSession.AcceptStreamAsync(CancellationToken.None).AsTask();

        // 1 MiB, four windows: the reader takes 384 KiB, then stops; the writer's flush waits for window.
        var data = new byte[1 << 20];
        using var write = new CancellationTokenSource();
        Task flush;
        if (buffered)
        {
            data.CopyTo(stream.Output.GetMemory(data.Length));
            stream.Output.Advance(data.Length);
            flush = stream.Output.FlushAsync(write.Token).AsTask();
        }
        else
        {
            flush = stream.Output.WriteAsync(data, write.Token).AsTask();
        }

        var accepted = await accepting.WaitAsync(Timeout);
        long read = 0;
        while (read < 384 * 1024)
        {
            var result = await accepted.Input.ReadAsync().AsTask().WaitAsync(Timeout);
            var take = result.Buffer.Slice(0, Math.Min(result.Buffer.Length, Math.Min(Chunk, 384 * 1024 - read)));
            read += take.Length;
            accepted.Input.AdvanceTo(take.End);
        }

        // The writer has sent all the window it got: its flush waits for more.
        await WaitUntilAsync(() => ((YamuxStream)accepted).ReceiveCredit == (0, 0) && ((YamuxStream)stream).IsWaitingForSendWindow);
        Assert.False(flush.IsCompleted);

        if (cancelFirst)
        {
            await write.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => flush.WaitAsync(Timeout));
        }

        stream.Reset();
        if (!cancelFirst)
        {
            await Assert.ThrowsAsync<StreamResetException>(() => flush.WaitAsync(Timeout));
        }

        // Reading on: the reset ends the stream (the data still buffered may come first), never a hang.
        var reset = await Assert.ThrowsAsync<StreamResetException>(async () =>
        {
            while (true)
            {
                var result = await accepted.Input.ReadAsync().AsTask().WaitAsync(Timeout);
                var take = result.Buffer.Slice(0, Math.Min(result.Buffer.Length, Chunk));
                read += take.Length;
                accepted.Input.AdvanceTo(take.End);
                if (result.IsCompleted && take.End.Equals(result.Buffer.End))
                {
                    return;
                }
            }
        });
        Assert.True(read <= 384 * 1024 + YamuxOptions.SpecInitialWindow, $"read {read} bytes: more than the reader's credit");
    }

    [Fact]
    public async Task A_read_pending_on_a_drained_stream_fails_when_the_writer_waiting_for_window_resets()
    {
        var (a, b) = DuplexPipe.CreatePair();
        var options = new YamuxOptions { EnableKeepAlive = false, MaxStreamWindowSize = YamuxOptions.SpecInitialWindow };
        await using var writerSession = new YamuxSession(a, Direction.Outbound, options);
        await using var readerSession = new YamuxSession(b, Direction.Inbound, options);
        var stream = await writerSession.OpenStreamAsync(CancellationToken.None);
        var flush = stream.Output.WriteAsync(new byte[1 << 20]).AsTask();
        var accepted = await readerSession.AcceptStreamAsync(CancellationToken.None).AsTask().WaitAsync(Timeout);

        // The reader examines everything without consuming it: no window goes back, and its next read waits.
        await WaitUntilAsync(() => ((YamuxStream)accepted).ReceiveCredit == (0, 0) && ((YamuxStream)stream).IsWaitingForSendWindow);
        var result = await accepted.Input.ReadAsync().AsTask().WaitAsync(Timeout);
        Assert.Equal(YamuxOptions.SpecInitialWindow, result.Buffer.Length);
        accepted.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        var pending = accepted.Input.ReadAsync().AsTask();
        Assert.False(pending.IsCompleted);

        stream.Reset();

        await Assert.ThrowsAsync<StreamResetException>(() => flush.WaitAsync(Timeout));
        await Assert.ThrowsAsync<StreamResetException>(() => pending.WaitAsync(Timeout));
    }

    /// <summary>The session's writer is in the middle of this stream's own data (its connection flush waits: the raw
    /// peer reads nothing) when the stream is reset, its flush cancelled first or not: the RST goes out after that
    /// data, once, and no data frame follows it.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_reset_while_the_session_writes_the_streams_data_goes_out_after_it(bool cancelFirst)
    {
        await using var peer = RawPeer.Start();
        var accept = peer.Session.AcceptStreamAsync(CancellationToken.None).AsTask();
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0);
        var stream = (YamuxStream)await accept.WaitAsync(Timeout);
        Assert.True((await peer.ReadFrameAsync()).Header.Has(YamuxFlags.Ack));

        // 200 KiB of window: the frames fill the connection's pipe and the flush waits there, holding the write lock.
        using var write = new CancellationTokenSource();
        var flush = stream.Output.WriteAsync(new byte[200 * 1024], write.Token).AsTask();
        await Task.Delay(50);
        Assert.False(flush.IsCompleted);
        if (cancelFirst)
        {
            await write.CancelAsync();
        }

        stream.Reset();
        var frames = new List<YamuxFrameHeader>();
        long data = 0;
        while (true)
        {
            var (header, payload) = await peer.ReadFrameAsync();
            frames.Add(header);
            data += payload.Length;
            if (header.Has(YamuxFlags.Rst))
            {
                break;
            }
        }

        // The write's frames were all committed to the connection before the reset: it ends as sent.
        await flush.WaitAsync(Timeout);
        Assert.All(frames, f => Assert.Equal(1u, f.StreamId));
        Assert.Single(frames, f => f.Has(YamuxFlags.Rst));
        Assert.Equal(200 * 1024, data);

        // Nothing follows the RST: a ping's answer is the next frame.
        await peer.SendAsync(YamuxFrameType.Ping, YamuxFlags.Syn, 0, 7);
        var next = (await peer.ReadFrameAsync(skipPings: false)).Header;
        Assert.Equal(YamuxFrameType.Ping, next.Type);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not come true in time");
            await Task.Delay(5);
        }
    }
}
