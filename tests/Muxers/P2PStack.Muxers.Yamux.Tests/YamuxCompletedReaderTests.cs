using System.IO.Pipelines;

namespace P2PStack.Muxers.Yamux.Tests;

/// <summary>A stream's input completed between a read and its <see cref="PipeReader.AdvanceTo(SequencePosition)"/> (a
/// close on another thread, as an onion circuit's end completes its link while the circuit's reader peels a batch):
/// the consumer is told as a pipe tells it, with an <see cref="InvalidOperationException"/>, not an
/// <see cref="ArgumentOutOfRangeException"/> of the sequence it was handed.</summary>
public sealed class YamuxCompletedReaderTests
{
    [Fact]
    public async Task Consuming_after_the_input_was_completed_is_an_invalid_operation()
    {
        await using var peer = RawPeer.Start();
        var accept = peer.Session.AcceptStreamAsync(CancellationToken.None).AsTask();
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0);
        var stream = await accept.WaitAsync(RawPeer.Timeout);
        var frame = new byte[YamuxFrameCodec.HeaderLength + 3];
        YamuxFrameCodec.Write(frame, new YamuxFrameHeader(YamuxFrameType.Data, YamuxFlags.None, 1, 3));
        await peer.SendRawAsync(frame);

        var result = await stream.Input.ReadAsync().AsTask().WaitAsync(RawPeer.Timeout);
        Assert.Equal(3, result.Buffer.Length);
        stream.Input.Complete(); // the closing side

        Assert.Throws<InvalidOperationException>(() => stream.Input.AdvanceTo(result.Buffer.End));
    }
}
