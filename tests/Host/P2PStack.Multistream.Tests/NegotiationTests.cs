using System.IO.Pipelines;
using P2PStack.IO;

namespace P2PStack.Multistream.Tests;

public class NegotiationTests
{
    private static readonly TimeSpan Patience = Scripted.Patience;

    [Fact]
    public async Task Select_and_handle_agree_on_first_supported()
    {
        var (dialer, listener) = DuplexPipe.CreatePair();
        Task<string> handle = MultistreamSelect.HandleAsync(listener, ["/b", "/c"], default).AsTask();
        string chosen = await MultistreamSelect.SelectAsync(dialer, ["/a", "/c", "/b"], default).AsTask().WaitAsync(Patience);
        Assert.Equal("/c", chosen);
        Assert.Equal("/c", await handle.WaitAsync(Patience));
    }

    [Fact]
    public async Task Select_throws_typed_error_when_nothing_is_supported()
    {
        var (dialer, listener) = DuplexPipe.CreatePair();
        Task<string> handle = MultistreamSelect.HandleAsync(listener, ["/z"], default).AsTask();
        var error = await Assert.ThrowsAsync<ProtocolNotSupportedException>(
            () => MultistreamSelect.SelectAsync(dialer, ["/a", "/b"], default).AsTask().WaitAsync(Patience));
        Assert.Equal(["/a", "/b"], error.Protocols);

        // The dialer gives up by closing; the listener then sees the end of the stream.
        await dialer.Output.CompleteAsync();
        await Assert.ThrowsAsync<EndOfStreamException>(() => handle.WaitAsync(Patience));
    }

    [Fact]
    public async Task Custom_matcher_selects_and_ls_lists_advertised()
    {
        var (dialer, listener) = DuplexPipe.CreatePair();
        Task<string> handle = MultistreamSelect.HandleAsync(listener, p => p.StartsWith("/kad/", StringComparison.Ordinal),
            ["/kad/1.0.0", "/ipfs/id/1.0.0"], default).AsTask();
        IReadOnlyList<string> listed = await MultistreamSelect.ListAsync(dialer, default).AsTask().WaitAsync(Patience);
        Assert.Equal(["/kad/1.0.0", "/ipfs/id/1.0.0"], listed);
        await dialer.Output.CompleteAsync();
        await Assert.ThrowsAsync<EndOfStreamException>(() => handle.WaitAsync(Patience));
    }

    [Fact]
    public async Task Ls_of_an_empty_set_is_an_empty_list()
    {
        var (dialer, listener) = DuplexPipe.CreatePair();
        _ = MultistreamSelect.HandleAsync(listener, Array.Empty<string>(), default).AsTask();
        Assert.Empty(await MultistreamSelect.ListAsync(dialer, default).AsTask().WaitAsync(Patience));
    }

    [Fact]
    public async Task Lazy_select_lets_the_dialer_write_before_the_answer_arrives()
    {
        var (dialer, listener) = DuplexPipe.CreatePair();
        LazySelectedPipe lazy = await MultistreamSelect.SelectLazyAsync(dialer, "/echo/1", default);
        Assert.False(lazy.IsConfirmed);
        await lazy.Output.WriteAsync("ping"u8.ToArray());

        // The listener has not even started yet: the data is already queued behind the proposal.
        string chosen = await MultistreamSelect.HandleAsync(listener, ["/echo/1"], default).AsTask().WaitAsync(Patience);
        Assert.Equal("/echo/1", chosen);
        ReadResult request = await listener.Input.ReadAsync();
        Assert.Equal("ping"u8.ToArray(), request.Buffer.ToArray());
        listener.Input.AdvanceTo(request.Buffer.End);
        await listener.Output.WriteAsync("pong"u8.ToArray());

        ReadResult reply = await lazy.Input.ReadAsync().AsTask().WaitAsync(Patience);
        Assert.True(lazy.IsConfirmed);
        Assert.Equal("pong"u8.ToArray(), reply.Buffer.ToArray());
        lazy.Input.AdvanceTo(reply.Buffer.End);
    }

    [Fact]
    public async Task Lazy_select_holds_the_end_of_output_until_the_answer_arrives()
    {
        // js-libp2p resets a stream whose proposal, data and end all arrive before its listener has answered.
        var (dialer, listener) = DuplexPipe.CreatePair();
        LazySelectedPipe lazy = await MultistreamSelect.SelectLazyAsync(dialer, "/echo/1", default);
        await lazy.Output.WriteAsync("ping"u8.ToArray());
        var completing = lazy.Output.CompleteAsync().AsTask();

        // The data is on the wire, the end is not.
        ReadResult early = await listener.Input.ReadAsync().AsTask().WaitAsync(Patience);
        Assert.False(early.IsCompleted);
        Assert.EndsWith("ping", System.Text.Encoding.ASCII.GetString(early.Buffer.ToArray()));
        listener.Input.AdvanceTo(early.Buffer.Start);
        Assert.False(completing.IsCompleted);

        Assert.Equal("/echo/1", await MultistreamSelect.HandleAsync(listener, ["/echo/1"], default).AsTask().WaitAsync(Patience));
        await completing.WaitAsync(Patience);
        Assert.True(lazy.IsConfirmed);
        ReadResult rest;
        while (true)
        {
            rest = await listener.Input.ReadAsync().AsTask().WaitAsync(Patience);
            if (rest.IsCompleted) break;
            listener.Input.AdvanceTo(rest.Buffer.Start, rest.Buffer.End);
        }
        Assert.Equal("ping"u8.ToArray(), rest.Buffer.ToArray());
    }

    [Fact]
    public async Task Lazy_select_refused_fails_the_first_read_and_every_later_one()
    {
        var (dialer, listener) = DuplexPipe.CreatePair();
        _ = MultistreamSelect.HandleAsync(listener, ["/other"], default).AsTask();
        LazySelectedPipe lazy = await MultistreamSelect.SelectLazyAsync(dialer, "/wanted", default);
        await Assert.ThrowsAsync<ProtocolNotSupportedException>(() => lazy.Input.ReadAsync().AsTask().WaitAsync(Patience));
        await Assert.ThrowsAsync<ProtocolNotSupportedException>(() => lazy.ConfirmAsync(default).AsTask().WaitAsync(Patience));
        Assert.Throws<ProtocolNotSupportedException>(() => lazy.Input.TryRead(out _));
    }

    [Fact]
    public async Task Lazy_confirm_without_reading_data()
    {
        var (dialer, listener) = DuplexPipe.CreatePair();
        _ = MultistreamSelect.HandleAsync(listener, ["/p"], default).AsTask();
        LazySelectedPipe lazy = await MultistreamSelect.SelectLazyAsync(dialer, "/p", default);
        await lazy.ConfirmAsync(default).AsTask().WaitAsync(Patience);
        Assert.True(lazy.IsConfirmed);
        Assert.False(lazy.Input.TryRead(out _));
    }

    [Fact]
    public async Task Lazy_cancel_pending_read_during_handshake_is_reported_and_resumable()
    {
        var s = new Scripted();
        LazySelectedPipe lazy = await MultistreamSelect.SelectLazyAsync(s.Local, "/p", default);
        ValueTask<ReadResult> pending = lazy.Input.ReadAsync();
        lazy.Input.CancelPendingRead();
        ReadResult cancelled = await pending.AsTask().WaitAsync(Patience);
        Assert.True(cancelled.IsCanceled);

        await s.SendAsync([.. Scripted.Messages("/multistream/1.0.0", "/p"), .. "data"u8]);
        ReadResult result = await lazy.Input.ReadAsync().AsTask().WaitAsync(Patience);
        Assert.Equal("data"u8.ToArray(), result.Buffer.ToArray());
    }

    [Fact]
    public async Task Negotiation_timeout_is_a_timeout_exception()
    {
        var s = new Scripted();
        var options = new MultistreamOptions { NegotiationTimeout = TimeSpan.FromMilliseconds(50) };
        await Assert.ThrowsAsync<TimeoutException>(
            () => MultistreamSelect.SelectAsync(s.Local, ["/silent"], default, options).AsTask().WaitAsync(Patience));
        await Assert.ThrowsAsync<TimeoutException>(
            () => MultistreamSelect.HandleAsync(new Scripted().Local, ["/x"], default, options).AsTask().WaitAsync(Patience));
    }

    [Fact]
    public async Task Caller_cancellation_is_cancellation_not_timeout()
    {
        var s = new Scripted();
        using var cts = new CancellationTokenSource();
        Task<string> select = MultistreamSelect.SelectAsync(s.Local, ["/silent"], cts.Token).AsTask();
        await s.ReceiveAsync(20);
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => select.WaitAsync(Patience));
    }

    [Fact]
    public async Task Listener_gives_up_after_max_proposals()
    {
        var s = new Scripted();
        var options = new MultistreamOptions { MaxProposals = 3 };
        Task<string> handle = MultistreamSelect.HandleAsync(s.Local, ["/x"], default, options).AsTask();
        await s.SendAsync(Scripted.Messages("/multistream/1.0.0", "/1", "/2", "/3", "/4"));
        await Assert.ThrowsAsync<TooManyProposalsException>(() => handle.WaitAsync(Patience));
    }

    [Fact]
    public async Task Listener_never_selects_the_control_tokens()
    {
        var s = new Scripted();
        Func<string, bool> everything = _ => true;
        Task<string> handle = MultistreamSelect.HandleAsync(s.Local, everything, [], default).AsTask();
        await s.ReceiveAsync(20);
        await s.SendAsync(Scripted.Messages("/multistream/1.0.0", "na", "/multistream/1.0.0", "/real"));
        Assert.Equal(Scripted.Messages("na", "na", "/real"), await s.ReceiveAsync(4 + 4 + 7));
        Assert.Equal("/real", await handle.WaitAsync(Patience));
    }

    [Fact]
    public async Task Local_protocol_ids_are_validated()
    {
        var s = new Scripted();
        await Assert.ThrowsAsync<ArgumentException>(() => MultistreamSelect.SelectAsync(s.Local, [], default).AsTask());
        await Assert.ThrowsAsync<ArgumentException>(() => MultistreamSelect.SelectAsync(s.Local, ["/a\n/b"], default).AsTask());
        await Assert.ThrowsAsync<ArgumentException>(() => MultistreamSelect.SelectAsync(s.Local, [new string('x', 1024)], default).AsTask());
        await Assert.ThrowsAsync<ArgumentException>(() => MultistreamSelect.SelectLazyAsync(s.Local, "\ud800", default).AsTask());
    }
}
