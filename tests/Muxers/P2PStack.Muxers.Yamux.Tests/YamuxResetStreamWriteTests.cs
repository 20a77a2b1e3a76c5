using P2PStack.Network;

namespace P2PStack.Muxers.Yamux.Tests;

/// <summary>A write on a stream that was reset (by either side) fails at once with <see cref="StreamResetException"/>
/// and puts nothing on the wire: not before the write, not while it waits for send window, not while it waits for the
/// session's write lock behind another stream.</summary>
public sealed class YamuxResetStreamWriteTests
{
    private const int Window = 256 * 1024; // the spec's initial window, which the raw peer never grows

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_write_waiting_behind_another_stream_fails_once_its_stream_is_reset_and_sends_nothing(bool remoteReset)
    {
        await using var peer = RawPeer.Start();
        var busy = await peer.AcceptedStreamAsync(1);
        var victim = await peer.AcceptedStreamAsync(3);

        // The peer reads nothing: stream 1's 200 KiB fill the connection's pipe and its flush holds the session's
        // write lock; stream 3's write has its window and waits for that lock.
        var busyWrite = busy.Output.WriteAsync(new byte[200 * 1024]).AsTask();
        var victimWrite = victim.Output.WriteAsync(new byte[1024]).AsTask();
        Assert.False(busyWrite.IsCompleted || victimWrite.IsCompleted);

        if (remoteReset)
        {
            await peer.ResetAsync(victim);
        }
        else
        {
            victim.Reset(); // another task resets the stream while its writer waits
        }

        var frames = new List<YamuxFrameHeader>();
        var reading = Task.Run(async () =>
        {
            while (true)
            {
                var (header, _) = await peer.ReadFrameAsync();
                frames.Add(header);
                if (header.StreamId == 1 && header.Has(YamuxFlags.Fin))
                {
                    return;
                }
            }
        });
        await busyWrite.WaitAsync(RawPeer.Timeout);
        await Assert.ThrowsAsync<StreamResetException>(() => victimWrite.WaitAsync(RawPeer.Timeout));
        await busy.Output.CompleteAsync(); // FIN on stream 1: everything the session sent before it has been read
        await reading.WaitAsync(RawPeer.Timeout);

        Assert.DoesNotContain(frames, f => f.StreamId == 3 && f.Type == YamuxFrameType.Data);
        Assert.Equal(200 * 1024, frames.Where(f => f.StreamId == 1 && f.Type == YamuxFrameType.Data).Sum(f => (long)f.Length));
        Assert.Equal(remoteReset ? 0 : 1, frames.Count(f => f.StreamId == 3 && f.Has(YamuxFlags.Rst)));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_write_waiting_for_send_window_fails_when_the_stream_is_reset(bool remoteReset)
    {
        await using var peer = RawPeer.Start();
        var stream = await peer.AcceptedStreamAsync(1);
        peer.StartDraining();
        await stream.Output.WriteAsync(new byte[Window]).AsTask().WaitAsync(RawPeer.Timeout); // the whole window

        var waiting = stream.Output.WriteAsync(new byte[1024]).AsTask(); // no credit: waits for a window update
        Assert.False(waiting.IsCompleted);
        await ResetAsync(peer, stream, remoteReset);

        await Assert.ThrowsAsync<StreamResetException>(() => waiting.WaitAsync(RawPeer.Timeout));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Writes_after_a_reset_fail_at_once_and_send_nothing(bool remoteReset)
    {
        await using var peer = RawPeer.Start();
        var stream = await peer.AcceptedStreamAsync(1);
        var other = await peer.AcceptedStreamAsync(3);
        await ResetAsync(peer, stream, remoteReset);

        // Direct send, buffered flush, and a flush with nothing buffered: each fails without waiting.
        var send = stream.Output.WriteAsync(new byte[1024]);
        Assert.True(send.IsCompleted);
        await Assert.ThrowsAsync<StreamResetException>(async () => await send);
        stream.Output.GetSpan(16)[..16].Fill(7);
        stream.Output.Advance(16);
        await Assert.ThrowsAsync<StreamResetException>(async () => await stream.Output.FlushAsync());
        await Assert.ThrowsAsync<StreamResetException>(async () => await stream.Output.FlushAsync());

        await other.Output.CompleteAsync(); // a marker: what the session sent before it has been read once it arrives
        var frames = new List<YamuxFrameHeader>();
        for (var frame = (await peer.ReadFrameAsync()).Header; frame.StreamId != 3; frame = (await peer.ReadFrameAsync()).Header)
        {
            frames.Add(frame);
        }

        Assert.DoesNotContain(frames, f => f.Type == YamuxFrameType.Data);
    }

    private static async Task ResetAsync(RawPeer peer, YamuxStream stream, bool remote)
    {
        if (remote)
        {
            await peer.ResetAsync(stream);
        }
        else
        {
            stream.Reset();
        }
    }
}
