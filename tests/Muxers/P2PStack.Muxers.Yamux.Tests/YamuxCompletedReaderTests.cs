namespace P2PStack.Muxers.Yamux.Tests;

/// <summary>A stream's input completed by another part (its dispose) while the consumer still holds a read's buffer: the
/// consumer's AdvanceTo fails as a Pipe's reader does, with an <see cref="InvalidOperationException"/> (an onion link turns
/// exactly that into "link closed"), never with an <see cref="ArgumentOutOfRangeException"/> read as a bug (an onion
/// relay's backward loop met one when its circuit's end closed the next link in the middle of a batch).</summary>
public sealed class YamuxCompletedReaderTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AdvanceTo_after_the_input_was_completed_is_an_InvalidOperationException(bool consumeAll)
    {
        await using var peer = RawPeer.Start();
        var stream = await peer.AcceptedStreamAsync(1);
        await peer.SendAsync(YamuxFrameType.Data, YamuxFlags.None, stream.StreamId, 4, [1, 2, 3, 4]);

        var result = await stream.Input.ReadAsync().AsTask().WaitAsync(RawPeer.Timeout);
        Assert.Equal(4, result.Buffer.Length);
        stream.Input.Complete(); // as YamuxStream.DisposeAsync does, from another part, while the buffer is held

        var consumed = consumeAll ? result.Buffer.End : result.Buffer.GetPosition(2);
        Assert.Throws<InvalidOperationException>(() => stream.Input.AdvanceTo(consumed, result.Buffer.End));
    }
}
