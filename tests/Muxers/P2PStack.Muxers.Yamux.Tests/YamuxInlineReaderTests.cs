using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using P2PStack.IO;
using P2PStack.Network;

namespace P2PStack.Muxers.Yamux.Tests;

/// <summary>A stream whose reader asked to run on the session's read loop (<see cref="IMuxedStream.TryReadInline"/>):
/// resumed there, once per read batch, for data; on the thread pool for a reset; its window credit flows as before.</summary>
public sealed class YamuxInlineReaderTests
{
    private static readonly TimeSpan Timeout = RawPeer.Timeout;

    /// <summary>Whether the calling code runs inside the session's read loop (its state machine is on the stack).</summary>
    private static bool OnReadLoop() =>
        new StackTrace().GetFrames().Any(f => f.GetMethod()?.DeclaringType?.Name.Contains("ReadLoopAsync", StringComparison.Ordinal) == true
            && f.GetMethod()?.DeclaringType?.DeclaringType == typeof(YamuxSession));

    /// <summary>One read; returns its bytes and where its continuation ran. Started before the data arrives, so that the
    /// pipe resumes it.</summary>
    private static async Task<(byte[] Data, bool OnReadLoop)> ReadOnceAsync(IMuxedStream stream)
    {
        var result = await stream.Input.ReadAsync().ConfigureAwait(false);
        bool onReadLoop = OnReadLoop();
        var data = result.Buffer.ToArray();
        stream.Input.AdvanceTo(result.Buffer.End);
        return (data, onReadLoop);
    }

    private static async Task<IMuxedStream> AcceptAsync(RawPeer peer, uint id)
    {
        var accept = peer.Session.AcceptStreamAsync(CancellationToken.None).AsTask();
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, id, 0);
        return await accept.WaitAsync(Timeout);
    }

    private static byte[] DataFrame(uint id, byte[] payload, YamuxFlags flags = YamuxFlags.None)
    {
        var frame = new byte[YamuxFrameCodec.HeaderLength + payload.Length];
        YamuxFrameCodec.Write(frame, new YamuxFrameHeader(YamuxFrameType.Data, flags, id, (uint)payload.Length));
        payload.CopyTo(frame.AsSpan(YamuxFrameCodec.HeaderLength));
        return frame;
    }

    [Fact]
    public async Task Data_resumes_a_reader_that_asked_on_the_read_loop_and_any_other_on_the_thread_pool()
    {
        await using var peer = RawPeer.Start();
        var inline = await AcceptAsync(peer, 1);
        var pooled = await AcceptAsync(peer, 3);
        Assert.True(inline.TryReadInline());

        var inlineRead = ReadOnceAsync(inline);
        var pooledRead = ReadOnceAsync(pooled);
        await peer.SendRawAsync([.. DataFrame(1, [1, 2, 3]), .. DataFrame(3, [4, 5])]);

        var (inlineData, inlineOnLoop) = await inlineRead.WaitAsync(Timeout);
        var (pooledData, pooledOnLoop) = await pooledRead.WaitAsync(Timeout);
        Assert.Equal([1, 2, 3], inlineData);
        Assert.True(inlineOnLoop);
        Assert.Equal([4, 5], pooledData);
        Assert.False(pooledOnLoop);
    }

    [Fact]
    public async Task An_inline_reader_sees_the_whole_read_batch_at_once()
    {
        await using var peer = RawPeer.Start();
        var stream = await AcceptAsync(peer, 1);
        stream.TryReadInline();
        var read = ReadOnceAsync(stream);

        // Three data frames of the stream in one write of the connection: one read batch of the session.
        var payload = Enumerable.Range(0, 300).Select(i => (byte)i).ToArray();
        await peer.SendRawAsync([.. DataFrame(1, payload[..100]), .. DataFrame(1, payload[100..200]), .. DataFrame(1, payload[200..])]);

        var (data, onLoop) = await read.WaitAsync(Timeout);
        Assert.True(onLoop);
        Assert.Equal(payload, data); // not the first frame alone: the reader ran once the batch was delivered
    }

    [Fact]
    public async Task Data_and_fin_in_one_batch_reach_an_inline_reader_with_the_end()
    {
        await using var peer = RawPeer.Start();
        var stream = await AcceptAsync(peer, 1);
        stream.TryReadInline();
        await peer.SendRawAsync([.. DataFrame(1, [1, 2]), .. DataFrame(1, [3], YamuxFlags.Fin)]);

        var received = new List<byte>();
        while (true)
        {
            var result = await stream.Input.ReadAsync().AsTask().WaitAsync(Timeout);
            received.AddRange(result.Buffer.ToArray());
            stream.Input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted) break;
        }

        Assert.Equal([1, 2, 3], received);
    }

    [Fact]
    public async Task A_reset_fails_an_inline_reader_on_the_thread_pool()
    {
        await using var peer = RawPeer.Start();
        var stream = await AcceptAsync(peer, 1);
        stream.TryReadInline();
        var read = ReadUntilResetAsync(stream);
        // The read is pending when the reset arrives (not one that starts after it and fails at once on this thread).
        Assert.False(read.IsCompleted, "the read completed before the reset was sent");
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Rst, 1, 0);

        var (failure, onLoop) = await read.WaitAsync(Timeout);
        Assert.IsType<StreamResetException>(failure);
        Assert.False(onLoop);
    }

    private static async Task<(Exception? Failure, bool OnLoop)> ReadUntilResetAsync(IMuxedStream stream)
    {
        try
        {
            await stream.Input.ReadAsync().ConfigureAwait(false);
            return (null, OnReadLoop());
        }
        catch (StreamResetException e)
        {
            return (e, OnReadLoop());
        }
    }

    private static async Task<(long Received, bool SawInline)> ReceiveAllAsync(IMuxedStream stream)
    {
        long received = 0;
        bool sawInline = false;
        while (true)
        {
            var result = await stream.Input.ReadAsync().ConfigureAwait(false);
            sawInline |= OnReadLoop();
            received += result.Buffer.Length;
            stream.Input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted) return (received, sawInline);
        }
    }

    [Fact]
    public async Task Megabytes_through_an_inline_reader_get_their_window_credit_back()
    {
        var (a, b) = DuplexPipe.CreatePair();
        var options = new YamuxOptions { EnableKeepAlive = false };
        await using var sender = new YamuxSession(a, Direction.Outbound, options);
        await using var receiver = new YamuxSession(b, Direction.Inbound, options);
        var outbound = await sender.OpenStreamAsync(CancellationToken.None);
        await outbound.Output.WriteAsync(new byte[] { 0 }); // the SYN
        var inbound = await receiver.AcceptStreamAsync(CancellationToken.None).AsTask().WaitAsync(Timeout);
        Assert.True(inbound.TryReadInline());

        const int total = 4 << 20; // 16 initial windows
        var chunk = Enumerable.Range(0, 32 * 1024).Select(i => (byte)(i * 7)).ToArray();
        var send = Task.Run(async () =>
        {
            for (int sent = 1; sent < total; sent += chunk.Length)
                await outbound.Output.WriteAsync(chunk.AsMemory(0, Math.Min(chunk.Length, total - sent)));
            await outbound.Output.CompleteAsync();
        });

        var (received, sawInline) = await ReceiveAllAsync(inbound).WaitAsync(Timeout);
        await send.WaitAsync(Timeout);
        Assert.Equal(total, received);
        Assert.True(sawInline);
    }
}
