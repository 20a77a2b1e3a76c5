using System.IO.Pipelines;
using Microsoft.Extensions.DependencyInjection;
using NSubstitute;
using P2PStack.Conformance.Muxer;
using P2PStack.IO;
using P2PStack.Network;

namespace P2PStack.Muxers.Yamux.Tests;

public sealed class YamuxSessionProtocolTests
{
    private static readonly TimeSpan Timeout = RawPeer.Timeout;

    [Fact]
    public async Task Bad_version_closes_with_protocol_error()
    {
        await using var peer = RawPeer.Start();
        await peer.SendRawAsync(Convert.FromHexString("010100010000000100000000"));
        await peer.ExpectGoAwayAndEndAsync(GoAwayCode.ProtocolError);
    }

    [Fact]
    public async Task Unknown_frame_type_closes_with_protocol_error()
    {
        await using var peer = RawPeer.Start();
        await peer.SendRawAsync(Convert.FromHexString("000700000000000100000000"));
        await peer.ExpectGoAwayAndEndAsync(GoAwayCode.ProtocolError);
    }

    [Fact]
    public async Task Remote_opening_a_stream_with_our_parity_is_a_protocol_error()
    {
        await using var peer = RawPeer.Start(Direction.Inbound); // session is the listener: even ids are its own
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 2, 0);
        await peer.ExpectGoAwayAndEndAsync(GoAwayCode.ProtocolError);
    }

    [Fact]
    public async Task Opening_an_already_open_stream_is_a_protocol_error()
    {
        await using var peer = RawPeer.Start();
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0);
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0);
        await peer.ExpectGoAwayAndEndAsync(GoAwayCode.ProtocolError);
    }

    [Fact]
    public async Task Syns_out_of_id_order_are_accepted()
    {
        await using var peer = RawPeer.Start();
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 5, 0);
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 3, 0);
        Assert.Equal(5, (await peer.Session.AcceptStreamAsync(CancellationToken.None).AsTask().WaitAsync(Timeout)).Id);
        Assert.Equal(3, (await peer.Session.AcceptStreamAsync(CancellationToken.None).AsTask().WaitAsync(Timeout)).Id);
    }

    [Fact]
    public async Task Data_beyond_the_receive_window_is_a_protocol_error()
    {
        await using var peer = RawPeer.Start();
        var accept = peer.Session.AcceptStreamAsync(CancellationToken.None).AsTask();
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0);
        var stream = await accept.WaitAsync(Timeout);
        await peer.SendAsync(YamuxFrameType.Data, YamuxFlags.None, 1, YamuxOptions.SpecInitialWindow,
            new byte[YamuxOptions.SpecInitialWindow]);
        await peer.SendAsync(YamuxFrameType.Data, YamuxFlags.None, 1, 1, [0]);
        await peer.ExpectGoAwayAndEndAsync(GoAwayCode.ProtocolError);
        await Assert.ThrowsAsync<MuxerClosedException>(() => stream.Input.ReadToEndAsync().WaitAsync(Timeout));
    }

    [Fact]
    public async Task Data_for_a_stream_never_opened_is_a_protocol_error()
    {
        await using var peer = RawPeer.Start();
        await peer.SendAsync(YamuxFrameType.Data, YamuxFlags.None, 5, 3, [1, 2, 3]);
        await peer.ExpectGoAwayAndEndAsync(GoAwayCode.ProtocolError);
    }

    [Fact]
    public async Task Frames_for_a_closed_stream_are_ignored()
    {
        await using var peer = RawPeer.Start();
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0);
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Rst, 1, 0);
        await peer.SendAsync(YamuxFrameType.Data, YamuxFlags.None, 1, 4, [1, 2, 3, 4]);
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.None, 1, 1000);

        await peer.SendAsync(YamuxFrameType.Ping, YamuxFlags.Syn, 0, 0xfeedbeef);
        YamuxFrameHeader pong;
        do
        {
            pong = (await peer.ReadFrameAsync(skipPings: false)).Header;
        }
        while (!(pong.Type == YamuxFrameType.Ping && pong.Has(YamuxFlags.Ack)));

        Assert.Equal(new YamuxFrameHeader(YamuxFrameType.Ping, YamuxFlags.Ack, 0, 0xfeedbeef), pong);
        Assert.False(peer.Session.Completion.IsCompleted);
    }

    [Fact]
    public async Task Inbound_streams_beyond_the_limit_are_reset()
    {
        await using var peer = RawPeer.Start(configure: o => o.MaxInboundStreams = 1);
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0);
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 3, 0);
        var ack = await peer.ReadFrameAsync();
        Assert.Equal(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Ack, 1, 0), ack.Header);
        var rst = await peer.ReadFrameAsync();
        Assert.Equal(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Rst, 3, 0), rst.Header);
        Assert.Equal(1, peer.Session.StreamCount);
    }

    [Fact]
    public async Task Streams_beyond_the_accept_backlog_are_reset()
    {
        await using var peer = RawPeer.Start(configure: o => o.AcceptBacklog = 1);
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0);
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 3, 0);
        var rst = await peer.ReadUntilAsync(h => h.Has(YamuxFlags.Rst));
        Assert.Equal(3u, rst.StreamId);
        var accepted = await peer.Session.AcceptStreamAsync(CancellationToken.None).AsTask().WaitAsync(Timeout);
        Assert.Equal(1, accepted.Id);
    }

    [Fact]
    public async Task Larger_initial_window_is_announced_with_syn_and_ack()
    {
        const int window = 1024 * 1024;
        await using var peer = RawPeer.Start(configure: o => o.InitialStreamWindowSize = window);
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0);
        var ack = await peer.ReadFrameAsync();
        Assert.Equal(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Ack, 1, window - YamuxOptions.SpecInitialWindow), ack.Header);

        var open = peer.Session.OpenStreamAsync(CancellationToken.None).AsTask();
        var syn = await peer.ReadFrameAsync();
        Assert.Equal(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 2, window - YamuxOptions.SpecInitialWindow), syn.Header);
        Assert.Equal(2, (await open.WaitAsync(Timeout)).Id);
    }

    [Fact]
    public async Task Window_update_is_sent_once_half_the_window_is_consumed()
    {
        await using var peer = RawPeer.Start();
        var accept = peer.Session.AcceptStreamAsync(CancellationToken.None).AsTask();
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0);
        var stream = await accept.WaitAsync(Timeout);
        Assert.True((await peer.ReadFrameAsync()).Header.Has(YamuxFlags.Ack));

        const int half = YamuxOptions.SpecInitialWindow / 2;
        await peer.SendAsync(YamuxFrameType.Data, YamuxFlags.None, 1, half - 1, new byte[half - 1]);
        await stream.Input.ReadExactlyAsync(half - 1).WaitAsync(Timeout);
        await peer.SendAsync(YamuxFrameType.Data, YamuxFlags.None, 1, 1, [9]);
        await stream.Input.ReadExactlyAsync(1).WaitAsync(Timeout);

        var update = await peer.ReadFrameAsync();
        Assert.Equal(YamuxFrameType.WindowUpdate, update.Header.Type);
        Assert.Equal(1u, update.Header.StreamId);
        Assert.InRange(update.Header.Length, (uint)half, (uint)YamuxOptions.SpecInitialWindow * 2);
    }

    [Fact]
    public async Task Sender_stops_at_the_window_and_resumes_after_an_update()
    {
        await using var peer = RawPeer.Start();
        var accept = peer.Session.AcceptStreamAsync(CancellationToken.None).AsTask();
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0);
        var stream = await accept.WaitAsync(Timeout);

        var data = new byte[300 * 1024];
        new Random(3).NextBytes(data);
        var write = stream.Output.WriteAsync(data).AsTask();
        var received = new MemoryStream();
        while (received.Length < YamuxOptions.SpecInitialWindow)
        {
            var (header, payload) = await peer.ReadFrameAsync();
            if (header.Type == YamuxFrameType.Data)
            {
                Assert.True(payload.Length <= 64 * 1024, "frames respect MaxMessageSize");
                received.Write(payload);
            }
        }

        Assert.Equal(YamuxOptions.SpecInitialWindow, received.Length);
        Assert.False(write.IsCompleted, "the writer must wait for window");
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.None, 1, 1024 * 1024);
        while (received.Length < data.Length)
        {
            var (header, payload) = await peer.ReadFrameAsync();
            if (header.Type == YamuxFrameType.Data)
            {
                received.Write(payload);
            }
        }

        await write.WaitAsync(Timeout);
        Assert.Equal(data, received.ToArray());
    }

    [Fact]
    public async Task Pending_window_wait_is_cancellable()
    {
        await using var peer = RawPeer.Start();
        var accept = peer.Session.AcceptStreamAsync(CancellationToken.None).AsTask();
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0);
        var stream = await accept.WaitAsync(Timeout);
        peer.StartDraining();
        await stream.Output.WriteAsync(new byte[YamuxOptions.SpecInitialWindow]).AsTask().WaitAsync(Timeout);

        using var cts = new CancellationTokenSource();
        var write = stream.Output.WriteAsync(new byte[10], cts.Token).AsTask();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => write.WaitAsync(Timeout));
    }

    [Fact]
    public async Task Remote_normal_go_away_refuses_new_streams_but_keeps_open_ones()
    {
        await using var peer = RawPeer.Start();
        var accept = peer.Session.AcceptStreamAsync(CancellationToken.None).AsTask();
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0);
        var stream = await accept.WaitAsync(Timeout);
        await peer.SendAsync(YamuxFrameType.GoAway, YamuxFlags.None, 0, (uint)GoAwayCode.Normal);
        await peer.SendAsync(YamuxFrameType.Data, YamuxFlags.None, 1, 2, [4, 2]);
        Assert.Equal(new byte[] { 4, 2 }, await stream.Input.ReadExactlyAsync(2).WaitAsync(Timeout));
        await Assert.ThrowsAsync<MuxerClosedException>(
            () => peer.Session.OpenStreamAsync(CancellationToken.None).AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task Close_sends_go_away_only_after_the_open_streams_finished()
    {
        // js-libp2p yamux ends the whole session when it receives a go-away and drops its open streams without a
        // word, so a go-away sent before the drain left close waiting for streams that could never finish.
        await using var peer = RawPeer.Start();
        var accept = peer.Session.AcceptStreamAsync(CancellationToken.None).AsTask();
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 0);
        var stream = await accept.WaitAsync(Timeout);

        var closing = peer.Session.CloseAsync(CancellationToken.None).AsTask();
        await Assert.ThrowsAsync<MuxerClosedException>(
            () => peer.Session.OpenStreamAsync(CancellationToken.None).AsTask().WaitAsync(Timeout));
        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 3, 0);
        var refused = await peer.ReadUntilAsync(h => h.Type == YamuxFrameType.GoAway || h.StreamId == 3);
        Assert.True(refused.StreamId == 3 && refused.Has(YamuxFlags.Rst), $"expected a reset of stream 3, got {refused}");

        await stream.Output.CompleteAsync();
        var fin = await peer.ReadUntilAsync(h => h.Type == YamuxFrameType.GoAway || h.Has(YamuxFlags.Fin));
        Assert.True(fin.StreamId == 1 && fin.Type != YamuxFrameType.GoAway, $"expected the FIN of stream 1, got {fin}");
        Assert.False(closing.IsCompleted, "close must wait for the open stream");

        await peer.SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Fin, 1, 0);
        Assert.Empty(await stream.Input.ReadToEndAsync().WaitAsync(Timeout));
        await peer.ExpectGoAwayAndEndAsync(GoAwayCode.Normal);
        await closing.WaitAsync(Timeout);
    }

    [Fact]
    public async Task Remote_error_go_away_ends_the_session()
    {
        await using var peer = RawPeer.Start();
        await peer.SendAsync(YamuxFrameType.GoAway, YamuxFlags.None, 0, (uint)GoAwayCode.InternalError);
        await peer.Session.Completion.WaitAsync(Timeout);
        await Assert.ThrowsAsync<MuxerClosedException>(
            () => peer.Session.AcceptStreamAsync(CancellationToken.None).AsTask().WaitAsync(Timeout));
    }

    [Fact]
    public async Task Missing_pong_ends_the_session_with_internal_error()
    {
        await using var peer = RawPeer.Start(configure: o =>
        {
            o.EnableKeepAlive = true;
            o.PingTimeout = TimeSpan.FromMilliseconds(200);
        });
        var ping = await peer.ReadFrameAsync(skipPings: false);
        Assert.Equal(YamuxFrameType.Ping, ping.Header.Type);
        Assert.True(ping.Header.Has(YamuxFlags.Syn));
        await peer.ExpectGoAwayAndEndAsync(GoAwayCode.InternalError);
    }

    [Fact]
    public async Task Ping_measures_round_trip_time_between_sessions()
    {
        var (a, b) = DuplexPipe.CreatePair();
        await using var initiator = new YamuxSession(a, Direction.Outbound, new YamuxOptions());
        await using var responder = new YamuxSession(b, Direction.Inbound, new YamuxOptions());
        var rtt = await initiator.PingAsync(CancellationToken.None).AsTask().WaitAsync(Timeout);
        Assert.True(rtt > TimeSpan.Zero);
        Assert.NotNull(initiator.RoundTripTime);
    }

    [Fact]
    public async Task Session_ids_follow_parity_rules()
    {
        var (a, b) = DuplexPipe.CreatePair();
        await using var dialer = new YamuxSession(a, Direction.Outbound, new YamuxOptions());
        await using var listener = new YamuxSession(b, Direction.Inbound, new YamuxOptions());
        Assert.Equal(1, (await dialer.OpenStreamAsync(CancellationToken.None)).Id);
        Assert.Equal(3, (await dialer.OpenStreamAsync(CancellationToken.None)).Id);
        Assert.Equal(2, (await listener.OpenStreamAsync(CancellationToken.None)).Id);
        Assert.Equal(4, (await listener.OpenStreamAsync(CancellationToken.None)).Id);
    }

    [Fact]
    public async Task Closed_callback_runs_once_after_the_session_ends()
    {
        var (a, b) = DuplexPipe.CreatePair();
        int closed = 0;
        var session = new YamuxSession(a, Direction.Outbound, new YamuxOptions(), onClosed: () =>
        {
            Interlocked.Increment(ref closed);
            return ValueTask.CompletedTask;
        });
        await session.DisposeAsync();
        await session.DisposeAsync();
        Assert.Equal(1, closed);

        // The remote end reads the go-away, then the end of the connection.
        var rest = await b.Input.ReadToEndAsync().WaitAsync(Timeout);
        var last = YamuxFrameCodec.Read(rest.AsSpan(rest.Length - 12));
        Assert.Equal(new YamuxFrameHeader(YamuxFrameType.GoAway, YamuxFlags.None, 0, 0), last);
    }

    [Fact]
    public void AddYamux_registers_options_and_muxer()
    {
        var services = new P2PBuilder(new ServiceCollection()).AddYamux(o => o.MaxInboundStreams = 7).Services.BuildServiceProvider();
        var muxer = services.GetRequiredService<YamuxMuxer>();
        Assert.Equal("/yamux/1.0.0", muxer.ProtocolId);
        Assert.Same(muxer, Assert.Single(services.GetServices<IStreamMuxer>()));
        var (a, _) = DuplexPipe.CreatePair();
        var session = muxer.StartSession(a, Direction.Outbound);
        Assert.Equal(7, session.Options.MaxInboundStreams);
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            new P2PBuilder(new ServiceCollection()).AddYamux(o => o.MaxStreamWindowSize = 1).Services.BuildServiceProvider().GetRequiredService<YamuxMuxer>());
    }

    [Fact]
    public async Task Muxer_session_over_a_secure_connection_disposes_it_when_ending()
    {
        var (a, b) = DuplexPipe.CreatePair();
        var connection = Substitute.For<ISecureConnection>();
        connection.Input.Returns(a.Input);
        connection.Output.Returns(a.Output);
        IStreamMuxer muxer = new YamuxMuxer(Microsoft.Extensions.Options.Options.Create(new YamuxOptions()));
        var session = muxer.StartSession(connection, Direction.Outbound);
        await using var remote = new YamuxSession(b, Direction.Inbound, new YamuxOptions());

        var accept = remote.AcceptStreamAsync(CancellationToken.None).AsTask();
        var stream = await session.OpenStreamAsync(CancellationToken.None);
        Assert.Equal(1, (await accept.WaitAsync(Timeout)).Id);
        Assert.Equal(1, stream.Id);

        await session.DisposeAsync();
        await connection.Received(1).DisposeAsync();
        await remote.Completion.WaitAsync(Timeout);
    }
}
