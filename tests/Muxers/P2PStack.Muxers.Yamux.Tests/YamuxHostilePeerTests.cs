using P2PStack.Conformance.Muxer;

namespace P2PStack.Muxers.Yamux.Tests;

/// <summary>A hand-written peer that abuses flow control and control frames.</summary>
public sealed class YamuxHostilePeerTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Window_updates_growing_the_send_window_past_2_pow_32_minus_1_are_a_protocol_error()
    {
        await using var peer = RawPeer.Start();
        var accept = peer.Session.AcceptStreamAsync(CancellationToken.None).AsTask();
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0);
        await accept.WaitAsync(Timeout);

        // Up to exactly 2^32-1 is a (huge but) legal window: the session stays up and still answers pings.
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.None, 1, uint.MaxValue - YamuxOptions.SpecInitialWindow);
        await peer.SendAsync(YamuxFrameType.Ping, YamuxFlags.Syn, 0, 7);
        YamuxFrameHeader pong;
        do
        {
            pong = (await peer.ReadFrameAsync(skipPings: false)).Header;
        }
        while (!(pong.Type == YamuxFrameType.Ping && pong.Has(YamuxFlags.Ack)));

        Assert.Equal(new YamuxFrameHeader(YamuxFrameType.Ping, YamuxFlags.Ack, 0, 7), pong);

        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.None, 1, 1);
        await peer.ExpectGoAwayAndEndAsync(GoAwayCode.ProtocolError);
    }

    [Fact]
    public async Task A_ping_flood_from_a_peer_that_never_reads_is_held_at_the_control_queue_bound_then_fully_answered()
    {
        const int limit = 8;
        const int pings = 20_000; // 240 KB of pings, about 4 times what the session's output pipe holds unread
        // The read loop stops once the queue is over the limit (limit + 1); the session's own round-trip ping may add one.
        const int Bound = limit + 2;
        await using var peer = RawPeer.Start(configure: o => o.MaxPendingControlFrames = limit);
        var flood = new byte[pings * YamuxFrameCodec.HeaderLength];
        for (int i = 0; i < pings; i++)
        {
            YamuxFrameCodec.Write(flood.AsSpan(i * YamuxFrameCodec.HeaderLength),
                new YamuxFrameHeader(YamuxFrameType.Ping, YamuxFlags.Syn, 0, (uint)i));
        }

        // The write cannot finish while the session holds back: it stops reading us once the pongs back up.
        var writing = peer.SendRawAsync(flood);
        var deadline = DateTime.UtcNow + Timeout;
        while (!peer.Session.IsWaitingForControlDrain)
        {
            Assert.True(DateTime.UtcNow < deadline, "the session never stopped reading the flood");
            Assert.True(peer.Session.PendingControlFrames <= Bound);
            await Task.Delay(10);
        }

        // The session is now waiting for the queue to drain: not one frame past the bound was taken.
        Assert.True(peer.Session.PendingControlFrames <= Bound, $"{peer.Session.PendingControlFrames} control frames queued");
        Assert.False(writing.IsCompleted);

        // Once the peer reads, every ping is answered, in order, and nothing was lost while paused.
        var reading = Task.Run(async () =>
        {
            for (uint i = 0; i < pings;)
            {
                var header = YamuxFrameCodec.Read(await peer.Raw.Input.ReadExactlyAsync(YamuxFrameCodec.HeaderLength));
                if (header.Has(YamuxFlags.Syn))
                {
                    continue; // the session's own round-trip ping
                }

                Assert.Equal(new YamuxFrameHeader(YamuxFrameType.Ping, YamuxFlags.Ack, 0, i++), header);
            }
        });
        await writing.WaitAsync(Timeout);
        await reading.WaitAsync(Timeout);
        Assert.False(peer.Session.Completion.IsCompleted);
    }
}
