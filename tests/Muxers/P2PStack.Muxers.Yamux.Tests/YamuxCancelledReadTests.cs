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
        var stream = await peer.AcceptedStreamAsync(1);

        stream.Input.CancelPendingRead();
        await peer.ResetAsync(stream);

        var result = await stream.Input.ReadAsync().AsTask().WaitAsync(RawPeer.Timeout);
        Assert.True(result.IsCanceled);
        await Assert.ThrowsAsync<StreamResetException>(async () => await stream.Input.ReadAsync());
    }

    [Fact]
    public async Task TryRead_after_the_consumer_cancelled_and_a_reset_arrived_returns_the_cancellation_then_fails()
    {
        await using var peer = RawPeer.Start();
        var stream = await peer.AcceptedStreamAsync(1);

        stream.Input.CancelPendingRead();
        await peer.ResetAsync(stream);

        Assert.True(stream.Input.TryRead(out var result));
        Assert.True(result.IsCanceled);
        Assert.Throws<StreamResetException>(() => stream.Input.TryRead(out _));
    }

    [Fact]
    public async Task A_pending_read_woken_by_a_reset_alone_fails_with_the_reset()
    {
        await using var peer = RawPeer.Start();
        var stream = await peer.AcceptedStreamAsync(1);

        var pending = stream.Input.ReadAsync().AsTask();
        Assert.False(pending.IsCompleted);
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Rst, stream.StreamId, 0);

        await Assert.ThrowsAsync<StreamResetException>(() => pending.WaitAsync(RawPeer.Timeout));
    }
}
