namespace P2PStack.Muxers.Yamux.Tests;

/// <summary>Disposing a stream: buffered bytes and FIN first; if the remote never closes its half (or never takes
/// our last bytes), a reset after <see cref="YamuxOptions.StreamCloseTimeout"/>; no timer outlives the stream.</summary>
public sealed class YamuxStreamCloseTests
{
    private static readonly TimeSpan Timeout = RawPeer.Timeout;

    private static async Task<YamuxStream> AcceptAsync(RawPeer peer)
    {
        var accept = peer.Session.AcceptStreamAsync(CancellationToken.None).AsTask();
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0);
        var stream = (YamuxStream)await accept.WaitAsync(Timeout);
        Assert.True((await peer.ReadFrameAsync()).Header.Has(YamuxFlags.Ack));
        return stream;
    }

    private static void Buffer(YamuxStream stream, ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(stream.Output.GetSpan(bytes.Length));
        stream.Output.Advance(bytes.Length);
    }

    [Fact]
    public async Task Dispose_sends_buffered_bytes_and_fin_then_resets_when_the_remote_never_closes()
    {
        await using var peer = RawPeer.Start(configure: o => o.StreamCloseTimeout = TimeSpan.FromMilliseconds(200));
        var stream = await AcceptAsync(peer);
        Buffer(stream, "last words"u8);

        await stream.DisposeAsync().AsTask().WaitAsync(Timeout);

        var data = await peer.ReadFrameAsync();
        Assert.Equal(YamuxFrameType.Data, data.Header.Type);
        Assert.Equal("last words"u8.ToArray(), data.Payload);
        var fin = await peer.ReadFrameAsync();
        Assert.Equal(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Fin, 1, 0), fin.Header);
        var rst = await peer.ReadFrameAsync(); // the remote never sent its FIN
        Assert.Equal(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Rst, 1, 0), rst.Header);
        Assert.True(SpinWait.SpinUntil(() => peer.Session.StreamCount == 0, Timeout));
        Assert.False(stream.HasCloseTimer);
    }

    [Fact]
    public async Task Remote_fin_after_dispose_finishes_the_stream_and_stops_the_timer()
    {
        await using var peer = RawPeer.Start();
        var stream = await AcceptAsync(peer);

        await stream.DisposeAsync().AsTask().WaitAsync(Timeout);
        Assert.True((await peer.ReadFrameAsync()).Header.Has(YamuxFlags.Fin));
        Assert.True(stream.HasCloseTimer);
        Assert.Equal(1, peer.Session.StreamCount);

        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Fin, 1, 0);
        Assert.True(SpinWait.SpinUntil(() => peer.Session.StreamCount == 0, Timeout));
        Assert.False(stream.HasCloseTimer);
    }

    [Fact]
    public async Task Dispose_after_the_remote_closed_arms_no_timer()
    {
        await using var peer = RawPeer.Start();
        var stream = await AcceptAsync(peer);
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Fin, 1, 0);
        var end = await stream.Input.ReadAsync().AsTask().WaitAsync(Timeout);
        Assert.True(end.IsCompleted);
        stream.Input.AdvanceTo(end.Buffer.End);

        await stream.DisposeAsync().AsTask().WaitAsync(Timeout);

        Assert.True((await peer.ReadFrameAsync()).Header.Has(YamuxFlags.Fin));
        Assert.Equal(0, peer.Session.StreamCount);
        Assert.False(stream.HasCloseTimer);
    }

    [Fact]
    public async Task Dispose_is_bounded_when_the_remote_grants_no_window_for_the_last_bytes()
    {
        await using var peer = RawPeer.Start(configure: o => o.StreamCloseTimeout = TimeSpan.FromMilliseconds(300));
        var stream = await AcceptAsync(peer);
        peer.StartDraining();
        await stream.Output.WriteAsync(new byte[YamuxOptions.SpecInitialWindow]).AsTask().WaitAsync(Timeout);
        Buffer(stream, new byte[1000]); // no window left for these, and the remote never sends an update

        await stream.DisposeAsync().AsTask().WaitAsync(Timeout);

        Assert.True(SpinWait.SpinUntil(() => peer.Session.StreamCount == 0, Timeout));
        Assert.False(stream.HasCloseTimer);
    }

    [Fact]
    public async Task Synchronous_complete_that_cannot_finish_resets_the_stream_instead_of_faulting()
    {
        await using var peer = RawPeer.Start();
        var stream = await AcceptAsync(peer);
        peer.StartDraining();
        await stream.Output.WriteAsync(new byte[YamuxOptions.SpecInitialWindow]).AsTask().WaitAsync(Timeout);
        Buffer(stream, new byte[100]);

        stream.Output.Complete(); // the flush waits for window in the background
        var close = stream.PendingClose;
        Assert.NotNull(close);
        await peer.Session.DisposeAsync(); // the session ends under it

        await close.WaitAsync(Timeout);
        Assert.True(close.IsCompletedSuccessfully);
        await stream.DisposeAsync().AsTask().WaitAsync(Timeout);
        Assert.False(stream.HasCloseTimer);
    }
}
