using System.IO.Pipelines;
using System.Security.Cryptography;
using P2PStack.IO;
using P2PStack.Network;

namespace P2PStack.Conformance.Muxer;

/// <summary>
/// Behaviour every stream muxer must show. A muxer's test project derives from this class and supplies
/// <see cref="CreateSession"/>; every test runs over an in-memory connection and fails (never hangs) on a timeout.
/// </summary>
public abstract class MuxerConformanceTests
{
    protected static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    protected static readonly TimeSpan LongTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Starts a session of the muxer under test over <paramref name="connection"/>.</summary>
    protected abstract IMuxerSession CreateSession(IDuplexPipe connection, Direction direction, MuxerTestLimits limits);

    protected MuxerPair CreatePair(MuxerTestLimits? initiatorLimits = null, MuxerTestLimits? responderLimits = null,
        bool cuttable = false)
    {
        IDuplexPipe a, b;
        Func<ValueTask>? cut = null;
        if (cuttable)
        {
            (a, b, cut) = PipeTestExtensions.CreateCuttableConnection();
        }
        else
        {
            (a, b) = DuplexPipe.CreatePair();
        }

        return new MuxerPair(
            CreateSession(a, Direction.Outbound, initiatorLimits ?? new MuxerTestLimits()),
            CreateSession(b, Direction.Inbound, responderLimits ?? new MuxerTestLimits()),
            cut);
    }

    protected static async Task<(IMuxedStream Local, IMuxedStream Remote)> OpenAsync(IMuxerSession opener, IMuxerSession accepter)
    {
        var accept = accepter.AcceptStreamAsync(CancellationToken.None).AsTask();
        var local = await opener.OpenStreamAsync(CancellationToken.None).AsTask().WaitAsync(Timeout);
        // Some muxers announce a stream only with its first frame; one byte makes it visible to the remote.
        await local.Output.WriteAsync(new byte[] { 0x2a });
        var remote = await accept.WaitAsync(Timeout);
        Assert.Equal(0x2a, (await remote.Input.ReadExactlyAsync(1).WaitAsync(Timeout))[0]);
        return (local, remote);
    }

    protected static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting until {what}");
            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task Echo_on_one_stream()
    {
        await using var pair = CreatePair();
        var (local, remote) = await OpenAsync(pair.Initiator, pair.Responder);
        var echo = remote.EchoAsync();

        byte[] message = "hello, muxed world"u8.ToArray();
        await local.Output.WriteAsync(message);
        Assert.Equal(message, await local.Input.ReadExactlyAsync(message.Length).WaitAsync(Timeout));

        await local.Output.CompleteAsync();
        Assert.Empty(await local.Input.ReadToEndAsync().WaitAsync(Timeout));
        await echo.WaitAsync(Timeout);
        Assert.Equal(Direction.Outbound, local.Direction);
        Assert.Equal(Direction.Inbound, remote.Direction);
        Assert.Equal(local.Id, remote.Id);
    }

    [Fact]
    public async Task Two_hundred_concurrent_streams_each_echo_their_own_data()
    {
        await using var pair = CreatePair();
        using var stop = new CancellationTokenSource();
        var server = Task.Run(async () =>
        {
            var echoes = new List<Task>();
            try
            {
                while (true)
                {
                    var stream = await pair.Responder.AcceptStreamAsync(stop.Token);
                    echoes.Add(Task.Run(() => stream.EchoAsync()));
                }
            }
            catch (OperationCanceledException)
            {
            }

            await Task.WhenAll(echoes);
        });

        var clients = Enumerable.Range(0, 200).Select(i => Task.Run(async () =>
        {
            var data = new byte[1000 + (i * 97 % 9000)];
            new Random(i).NextBytes(data);
            var stream = await pair.Initiator.OpenStreamAsync(CancellationToken.None);
            var read = stream.Input.ReadToEndAsync();
            await stream.Output.WriteAllAsync(data, chunk: 1500);
            await stream.Output.CompleteAsync();
            Assert.Equal(data, await read);
            await stream.DisposeAsync();
        })).ToArray();

        await Task.WhenAll(clients).WaitAsync(LongTimeout);
        await stop.CancelAsync();
        await server.WaitAsync(Timeout);
    }

    [Fact]
    public async Task Large_transfer_arrives_intact()
    {
        await using var pair = CreatePair();
        var (local, remote) = await OpenAsync(pair.Initiator, pair.Responder);
        var data = new byte[(16 * 1024 * 1024) + 12345];
        new Random(7).NextBytes(data);

        var receive = Task.Run(async () =>
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            long total = 0;
            while (true)
            {
                var result = await remote.Input.ReadAsync();
                foreach (var segment in result.Buffer)
                {
                    hash.AppendData(segment.Span);
                }

                total += result.Buffer.Length;
                remote.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted)
                {
                    return (total, hash.GetHashAndReset());
                }
            }
        });

        await local.Output.WriteAllAsync(data, chunk: 100_000).WaitAsync(LongTimeout);
        await local.Output.CompleteAsync();
        var (received, digest) = await receive.WaitAsync(LongTimeout);
        Assert.Equal(data.Length, received);
        Assert.Equal(SHA256.HashData(data), digest);
    }

    /// <summary>A reader that frames with <see cref="LengthPrefixed"/> must receive messages several times the
    /// stream's flow-control window (the yamux window is 256 KiB): window credit may only come back as bytes are
    /// consumed, so the reader has to consume a message as it arrives rather than wait for all of it in the stream.</summary>
    [Theory]
    [InlineData(200 * 1024)]
    [InlineData(300 * 1024)]
    [InlineData(1024 * 1024)]
    [InlineData(3 * 1024 * 1024)]
    public async Task Length_prefixed_message_larger_than_the_stream_window_arrives(int size)
    {
        await using var pair = CreatePair();
        var (local, remote) = await OpenAsync(pair.Initiator, pair.Responder);
        byte[] message = RandomNumberGenerator.GetBytes(size);
        var send = Task.Run(async () =>
        {
            for (int i = 0; i < 2; i++)
            {
                LengthPrefixed.WriteMessage(local.Output, message);
                await local.Output.FlushAsync();
            }
            await local.Output.CompleteAsync();
        });

        for (int i = 0; i < 2; i++)
        {
            using var received = await LengthPrefixed.ReadMessageAsync(remote.Input, 4 * 1024 * 1024, CancellationToken.None)
                .AsTask().WaitAsync(LongTimeout);
            Assert.True(received.Span.SequenceEqual(message), $"message {i} differs");
        }
        Assert.Null(await LengthPrefixed.ReadMessageOrEndAsync(remote.Input, 4 * 1024 * 1024, CancellationToken.None)
            .AsTask().WaitAsync(LongTimeout));
        await send.WaitAsync(LongTimeout);
    }

    [Fact]
    public async Task Half_close_works_in_both_directions()
    {
        await using var pair = CreatePair();
        var (local, remote) = await OpenAsync(pair.Initiator, pair.Responder);

        await local.Output.WriteAsync("request"u8.ToArray());
        await local.Output.CompleteAsync();
        Assert.Equal("request"u8.ToArray(), await remote.Input.ReadToEndAsync().WaitAsync(Timeout));

        // The remote can still answer after our half-close.
        await remote.Output.WriteAsync("response"u8.ToArray());
        Assert.Equal("response"u8.ToArray(), await local.Input.ReadExactlyAsync(8).WaitAsync(Timeout));
        await remote.Output.WriteAsync("more"u8.ToArray());
        await remote.Output.CompleteAsync();
        Assert.Equal("more"u8.ToArray(), await local.Input.ReadToEndAsync().WaitAsync(Timeout));

        await WaitUntilAsync(() => pair.Initiator.StreamCount == 0 && pair.Responder.StreamCount == 0,
            "both sides have forgotten the closed stream");
    }

    [Fact]
    public async Task Responder_can_half_close_first()
    {
        await using var pair = CreatePair();
        var (local, remote) = await OpenAsync(pair.Initiator, pair.Responder);

        await remote.Output.WriteAsync("early"u8.ToArray());
        await remote.Output.CompleteAsync();
        Assert.Equal("early"u8.ToArray(), await local.Input.ReadToEndAsync().WaitAsync(Timeout));

        await local.Output.WriteAsync("late"u8.ToArray());
        await local.Output.CompleteAsync();
        Assert.Equal("late"u8.ToArray(), await remote.Input.ReadToEndAsync().WaitAsync(Timeout));
    }

    [Fact]
    public async Task Reset_is_seen_by_the_remote_on_reads_and_writes()
    {
        await using var pair = CreatePair();
        var (local, remote) = await OpenAsync(pair.Initiator, pair.Responder);

        local.Reset();

        await Assert.ThrowsAsync<StreamResetException>(() => remote.Input.ReadToEndAsync().WaitAsync(Timeout));
        await Assert.ThrowsAsync<StreamResetException>(async () =>
        {
            var deadline = DateTime.UtcNow + Timeout;
            while (DateTime.UtcNow < deadline)
            {
                await remote.Output.WriteAsync(new byte[100]).AsTask().WaitAsync(Timeout);
                await Task.Delay(5);
            }
        });
        await Assert.ThrowsAnyAsync<IOException>(() => local.Input.ReadToEndAsync().WaitAsync(Timeout));
        await WaitUntilAsync(() => pair.Initiator.StreamCount == 0 && pair.Responder.StreamCount == 0,
            "both sides have forgotten the reset stream");
    }

    [Fact]
    public async Task Pending_read_can_be_cancelled_and_the_stream_still_works()
    {
        await using var pair = CreatePair();
        var (local, remote) = await OpenAsync(pair.Initiator, pair.Responder);

        using var cts = new CancellationTokenSource();
        var read = remote.Input.ReadAsync(cts.Token).AsTask();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => read.WaitAsync(Timeout));

        await local.Output.WriteAsync("after"u8.ToArray());
        Assert.Equal("after"u8.ToArray(), await remote.Input.ReadExactlyAsync(5).WaitAsync(Timeout));
    }

    [Fact]
    public async Task Pending_accept_can_be_cancelled_and_accepting_still_works()
    {
        await using var pair = CreatePair();
        using var cts = new CancellationTokenSource();
        var accept = pair.Responder.AcceptStreamAsync(cts.Token).AsTask();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => accept.WaitAsync(Timeout));

        var (local, remote) = await OpenAsync(pair.Initiator, pair.Responder);
        Assert.Equal(local.Id, remote.Id);
    }

    [Fact]
    public async Task Cancelled_open_opens_nothing()
    {
        await using var pair = CreatePair();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => pair.Initiator.OpenStreamAsync(new CancellationToken(canceled: true)).AsTask().WaitAsync(Timeout));
        Assert.Equal(0, pair.Initiator.StreamCount);

        await OpenAsync(pair.Initiator, pair.Responder);
        Assert.Equal(1, pair.Initiator.StreamCount);
    }

    [Fact]
    public async Task Remote_vanishing_fails_every_pending_operation_promptly()
    {
        await using var pair = CreatePair(cuttable: true);
        var (local, remote) = await OpenAsync(pair.Initiator, pair.Responder);
        var (blockedWriter, _) = await OpenAsync(pair.Initiator, pair.Responder);

        var pendingRead = local.Input.ReadAsync().AsTask();
        var pendingAccept = pair.Initiator.AcceptStreamAsync(CancellationToken.None).AsTask();
        // Nobody reads on the remote, so this write stalls once the flow-control window is used up.
        var pendingWrite = blockedWriter.Output.WriteAllAsync(new byte[8 * 1024 * 1024]);
        var remoteRead = remote.Input.ReadAsync().AsTask();

        await pair.CutAsync();

        await Assert.ThrowsAnyAsync<IOException>(() => pendingRead.WaitAsync(Timeout));
        await Assert.ThrowsAsync<MuxerClosedException>(() => pendingAccept.WaitAsync(Timeout));
        await Assert.ThrowsAnyAsync<IOException>(() => pendingWrite.WaitAsync(Timeout));
        await Assert.ThrowsAnyAsync<IOException>(() => remoteRead.WaitAsync(Timeout));
        await Assert.ThrowsAsync<MuxerClosedException>(
            () => pair.Initiator.OpenStreamAsync(CancellationToken.None).AsTask().WaitAsync(Timeout));
        await pair.Initiator.Completion.WaitAsync(Timeout);
        await pair.Responder.Completion.WaitAsync(Timeout);
        Assert.Equal(0, pair.Initiator.StreamCount);
    }

    [Fact]
    public async Task Outbound_stream_limit_refuses_with_resource_limit_error()
    {
        await using var pair = CreatePair(initiatorLimits: new MuxerTestLimits(MaxOutboundStreams: 2));
        var (first, firstRemote) = await OpenAsync(pair.Initiator, pair.Responder);
        await OpenAsync(pair.Initiator, pair.Responder);

        await Assert.ThrowsAsync<ResourceLimitExceededException>(
            () => pair.Initiator.OpenStreamAsync(CancellationToken.None).AsTask().WaitAsync(Timeout));

        // Closing a stream on both sides frees its slot.
        await first.Output.CompleteAsync();
        await firstRemote.Output.CompleteAsync();
        await first.Input.ReadToEndAsync().WaitAsync(Timeout);
        await firstRemote.Input.ReadToEndAsync().WaitAsync(Timeout);
        await WaitUntilAsync(() => pair.Initiator.StreamCount == 1, "the closed stream's slot is free");
        await OpenAsync(pair.Initiator, pair.Responder);
    }

    [Fact]
    public async Task Inbound_stream_limit_resets_the_excess_stream()
    {
        await using var pair = CreatePair(responderLimits: new MuxerTestLimits(MaxInboundStreams: 1));
        var (first, firstRemote) = await OpenAsync(pair.Initiator, pair.Responder);

        var excess = await pair.Initiator.OpenStreamAsync(CancellationToken.None).AsTask().WaitAsync(Timeout);
        await excess.Output.WriteAsync(new byte[] { 1 });
        await Assert.ThrowsAsync<StreamResetException>(() => excess.Input.ReadToEndAsync().WaitAsync(Timeout));

        // The accepted stream is unaffected.
        await first.Output.WriteAsync("ok"u8.ToArray());
        Assert.Equal("ok"u8.ToArray(), await firstRemote.Input.ReadExactlyAsync(2).WaitAsync(Timeout));
        Assert.Equal(1, pair.Responder.StreamCount);
    }

    [Fact]
    public async Task Close_refuses_new_streams_lets_open_streams_finish_then_ends_both_sessions()
    {
        await using var pair = CreatePair();
        var (local, remote) = await OpenAsync(pair.Initiator, pair.Responder);

        var closing = pair.Initiator.CloseAsync(CancellationToken.None).AsTask();
        await Assert.ThrowsAsync<MuxerClosedException>(
            () => pair.Initiator.OpenStreamAsync(CancellationToken.None).AsTask().WaitAsync(Timeout));

        // The open stream keeps working in both directions while the session drains.
        await remote.Output.WriteAsync("still here"u8.ToArray());
        Assert.Equal("still here"u8.ToArray(), await local.Input.ReadExactlyAsync(10).WaitAsync(Timeout));
        await local.Output.WriteAsync("me too"u8.ToArray());
        Assert.Equal("me too"u8.ToArray(), await remote.Input.ReadExactlyAsync(6).WaitAsync(Timeout));
        Assert.False(closing.IsCompleted, "close must wait for the open stream");

        await local.Output.CompleteAsync();
        await remote.Output.CompleteAsync();
        Assert.Empty(await remote.Input.ReadToEndAsync().WaitAsync(Timeout));
        Assert.Empty(await local.Input.ReadToEndAsync().WaitAsync(Timeout));

        await closing.WaitAsync(Timeout);
        await pair.Initiator.Completion.WaitAsync(Timeout);
        await pair.Responder.Completion.WaitAsync(Timeout);
        await Assert.ThrowsAsync<MuxerClosedException>(
            () => pair.Responder.AcceptStreamAsync(CancellationToken.None).AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task Dispose_ends_both_sessions_and_fails_open_streams()
    {
        await using var pair = CreatePair();
        var (local, remote) = await OpenAsync(pair.Initiator, pair.Responder);
        var remoteRead = remote.Input.ReadAsync().AsTask();

        await pair.Initiator.DisposeAsync().AsTask().WaitAsync(Timeout);

        await Assert.ThrowsAnyAsync<IOException>(() => local.Input.ReadAsync().AsTask().WaitAsync(Timeout));
        await Assert.ThrowsAnyAsync<IOException>(() => remoteRead.WaitAsync(Timeout));
        await pair.Initiator.Completion.WaitAsync(Timeout);
        await pair.Responder.Completion.WaitAsync(Timeout);
    }
}
