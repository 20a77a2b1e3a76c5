using P2PStack.Network;

namespace P2PStack.Muxers.Yamux.Tests;

/// <summary>A read the consumer cancelled (<c>CancelPendingRead</c>) ends as cancelled even when the remote's reset
/// arrived before the read saw it; the reset fails the next read. A reset alone still fails the read. (An onion relay's
/// circuit end cancels its loops' reads and then closes the link while the neighbour's reset crosses it.)</summary>
public sealed class YamuxCancelledReadTests
{
    [Fact]
    public async Task A_read_cancelled_by_the_consumer_before_a_reset_ends_as_cancelled_and_the_next_read_fails()
    {
        await using var peer = RawPeer.Start();
        var stream = await AcceptedStreamAsync(peer, 1);

        stream.Input.CancelPendingRead();
        await RemoteResetAsync(peer, stream);

        var result = await stream.Input.ReadAsync().AsTask().WaitAsync(RawPeer.Timeout);
        Assert.True(result.IsCanceled);
        await Assert.ThrowsAsync<StreamResetException>(async () => await stream.Input.ReadAsync());
    }

    [Fact]
    public async Task TryRead_after_the_consumer_cancelled_and_a_reset_arrived_returns_the_cancellation_then_fails()
    {
        await using var peer = RawPeer.Start();
        var stream = await AcceptedStreamAsync(peer, 1);

        stream.Input.CancelPendingRead();
        await RemoteResetAsync(peer, stream);

        Assert.True(stream.Input.TryRead(out var result));
        Assert.True(result.IsCanceled);
        Assert.Throws<StreamResetException>(() => stream.Input.TryRead(out _));
    }

    [Fact]
    public async Task A_pending_read_woken_by_a_reset_alone_fails_with_the_reset()
    {
        await using var peer = RawPeer.Start();
        var stream = await AcceptedStreamAsync(peer, 1);

        var pending = stream.Input.ReadAsync().AsTask();
        Assert.False(pending.IsCompleted);
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Rst, stream.StreamId, 0);

        await Assert.ThrowsAsync<StreamResetException>(() => pending.WaitAsync(RawPeer.Timeout));
    }

    private static async Task RemoteResetAsync(RawPeer peer, YamuxStream stream)
    {
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Rst, stream.StreamId, 0);
        var deadline = DateTime.UtcNow + RawPeer.Timeout;
        while (!stream.HasReadFailure) // the session has taken the RST
        {
            Assert.True(DateTime.UtcNow < deadline, "the reset was not taken in time");
            await Task.Delay(5);
        }
    }

    private static async Task<YamuxStream> AcceptedStreamAsync(RawPeer peer, uint id)
    {
        var accept = peer.Session.AcceptStreamAsync(CancellationToken.None).AsTask();
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, id, 0);
        var stream = (YamuxStream)await accept.WaitAsync(RawPeer.Timeout);
        Assert.True((await peer.ReadFrameAsync()).Header.Has(YamuxFlags.Ack));
        return stream;
    }
}
