using System.IO.Pipelines;

namespace P2PStack.Multistream.Tests;

/// <summary>Exact bytes on the wire, as in the multistream-select spec and go-multistream.</summary>
public class WireTraceTests
{
    private static readonly byte[] Header =
        [0x13, .. "/multistream/1.0.0\n"u8];

    [Fact]
    public void Header_and_na_match_the_spec_hex()
    {
        Assert.Equal(Header, Scripted.Message("/multistream/1.0.0"));
        Assert.Equal(new byte[] { 0x03, 0x6e, 0x61, 0x0a }, Scripted.Message("na"));
        Assert.Equal(new byte[] { 0x03, 0x6c, 0x73, 0x0a }, Scripted.Message("ls"));
    }

    [Fact]
    public async Task Dialer_sends_header_and_first_protocol_together_then_accepts_echo()
    {
        var s = new Scripted();
        Task<string> select = MultistreamSelect.SelectAsync(s.Local, ["/echo/1.0.0"], default).AsTask();

        byte[] expected = [.. Header, 0x0c, .. "/echo/1.0.0\n"u8];
        Assert.Equal(expected, await s.ReceiveAsync(expected.Length));
        await s.SendAsync(Scripted.Messages("/multistream/1.0.0", "/echo/1.0.0"));
        Assert.Equal("/echo/1.0.0", await select.WaitAsync(Scripted.Patience));
    }

    [Fact]
    public async Task Dialer_tries_next_protocol_after_na()
    {
        var s = new Scripted();
        Task<string> select = MultistreamSelect.SelectAsync(s.Local, ["/a/2", "/b/1"], default).AsTask();
        Assert.Equal(Scripted.Messages("/multistream/1.0.0", "/a/2"), await s.ReceiveAsync(Header.Length + 6));
        await s.SendAsync(Scripted.Messages("/multistream/1.0.0", "na"));
        Assert.Equal(Scripted.Message("/b/1"), await s.ReceiveAsync(6));
        await s.SendAsync(Scripted.Message("/b/1"));
        Assert.Equal("/b/1", await select.WaitAsync(Scripted.Patience));
    }

    [Fact]
    public async Task Listener_writes_header_first_then_na_then_echo()
    {
        var s = new Scripted();
        Task<string> handle = MultistreamSelect.HandleAsync(s.Local, ["/yamux/1.0.0"], default).AsTask();
        Assert.Equal(Header, await s.ReceiveAsync(Header.Length));

        await s.SendAsync(Scripted.Messages("/multistream/1.0.0", "/mplex/6.7.0", "/yamux/1.0.0"));
        Assert.Equal(Scripted.Messages("na", "/yamux/1.0.0"), await s.ReceiveAsync(4 + 14));
        Assert.Equal("/yamux/1.0.0", await handle.WaitAsync(Scripted.Patience));
    }

    [Fact]
    public async Task Listener_sends_header_and_answer_in_one_write_when_the_dialers_proposal_is_already_there()
    {
        var s = new Scripted();
        await s.SendAsync(Scripted.Messages("/multistream/1.0.0", "/yamux/1.0.0"));
        var counted = new FlushCountingPipe(s.Local);
        Assert.Equal("/yamux/1.0.0", await MultistreamSelect.HandleAsync(counted, ["/yamux/1.0.0"], default).AsTask().WaitAsync(Scripted.Patience));
        Assert.Equal(1, counted.Flushes);
        byte[] expected = [.. Header, .. Scripted.Message("/yamux/1.0.0")];
        Assert.Equal(expected, await s.ReceiveAsync(expected.Length));
    }

    [Fact]
    public async Task Listener_flushes_its_header_alone_when_only_the_dialers_header_is_there()
    {
        var s = new Scripted();
        await s.SendAsync(Scripted.Message("/multistream/1.0.0"));
        var counted = new FlushCountingPipe(s.Local);
        Task<string> handle = MultistreamSelect.HandleAsync(counted, ["/yamux/1.0.0"], default).AsTask();
        Assert.Equal(Header, await s.ReceiveAsync(Header.Length));
        await s.SendAsync(Scripted.Message("/yamux/1.0.0"));
        Assert.Equal("/yamux/1.0.0", await handle.WaitAsync(Scripted.Patience));
        Assert.Equal(2, counted.Flushes);
    }

    [Fact]
    public async Task Optimistic_dialer_sends_header_proposal_and_its_first_message_in_one_write()
    {
        var s = new Scripted();
        var counted = new FlushCountingPipe(s.Local);
        var lazy = MultistreamSelect.ProposeLazily(counted, "/noise");
        Assert.Equal(0, counted.Flushes);
        await lazy.Output.WriteAsync("msg1"u8.ToArray());
        Assert.Equal(1, counted.Flushes);
        byte[] expected = [.. Header, .. Scripted.Message("/noise"), .. "msg1"u8];
        Assert.Equal(expected, await s.ReceiveAsync(expected.Length));

        await s.SendAsync([.. Scripted.Messages("/multistream/1.0.0", "/noise"), .. "msg2"u8]);
        var read = await lazy.Input.ReadAsync().AsTask().WaitAsync(Scripted.Patience);
        Assert.Equal("msg2"u8.ToArray(), read.Buffer.ToArray());
        Assert.True(lazy.IsConfirmed);
    }

    [Fact]
    public async Task Optimistic_dialer_refused_reports_it_on_its_first_read()
    {
        var s = new Scripted();
        var lazy = MultistreamSelect.ProposeLazily(s.Local, "/noise-mlkem768-hfs/0.1.0");
        await lazy.Output.WriteAsync("msg1"u8.ToArray());
        await s.SendAsync(Scripted.Messages("/multistream/1.0.0", "na"));
        await Assert.ThrowsAsync<ProtocolNotSupportedException>(() => lazy.Input.ReadAsync().AsTask().WaitAsync(Scripted.Patience));
    }

    [Fact]
    public async Task Listener_before_a_reply_leaves_its_answer_for_the_reply_when_data_came_with_the_proposal()
    {
        var s = new Scripted();
        await s.SendAsync([.. Scripted.Messages("/multistream/1.0.0", "/noise"), .. "msg1"u8]);
        var counted = new FlushCountingPipe(s.Local);
        Assert.Equal("/noise", await MultistreamSelect.HandleBeforeReplyAsync(counted, ["/noise"], default).AsTask().WaitAsync(Scripted.Patience));
        Assert.Equal(0, counted.Flushes);
        var data = await counted.Input.ReadAsync();
        Assert.Equal("msg1"u8.ToArray(), data.Buffer.ToArray());
        counted.Input.AdvanceTo(data.Buffer.End);

        await counted.Output.WriteAsync("msg2"u8.ToArray());
        Assert.Equal(1, counted.Flushes);
        byte[] expected = [.. Header, .. Scripted.Message("/noise"), .. "msg2"u8];
        Assert.Equal(expected, await s.ReceiveAsync(expected.Length));
    }

    [Fact]
    public async Task Listener_before_a_reply_flushes_its_answer_when_the_dialer_waits_for_it()
    {
        var s = new Scripted();
        await s.SendAsync(Scripted.Messages("/multistream/1.0.0", "/noise"));
        var counted = new FlushCountingPipe(s.Local);
        Assert.Equal("/noise", await MultistreamSelect.HandleBeforeReplyAsync(counted, ["/noise"], default).AsTask().WaitAsync(Scripted.Patience));
        Assert.Equal(1, counted.Flushes);
        byte[] expected = [.. Header, .. Scripted.Message("/noise")];
        Assert.Equal(expected, await s.ReceiveAsync(expected.Length));
    }

    /// <summary>The end under test's pipe, counting the flushes of its output (each one write on a real stream).</summary>
    private sealed class FlushCountingPipe(IDuplexPipe inner) : IDuplexPipe
    {
        private readonly CountingWriter _output = new(inner.Output);

        public int Flushes => _output.Flushes;

        public PipeReader Input => inner.Input;

        public PipeWriter Output => _output;

        private sealed class CountingWriter(PipeWriter writer) : PipeWriter
        {
            public int Flushes;

            public override void Advance(int bytes) => writer.Advance(bytes);

            public override Memory<byte> GetMemory(int sizeHint = 0) => writer.GetMemory(sizeHint);

            public override Span<byte> GetSpan(int sizeHint = 0) => writer.GetSpan(sizeHint);

            public override void CancelPendingFlush() => writer.CancelPendingFlush();

            public override void Complete(Exception? exception = null) => writer.Complete(exception);

            public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
            {
                Interlocked.Increment(ref Flushes);
                return writer.FlushAsync(cancellationToken);
            }
        }
    }

    [Fact]
    public async Task Listener_answers_ls_in_go_format_and_keeps_negotiating()
    {
        var s = new Scripted();
        Task<string> handle = MultistreamSelect.HandleAsync(s.Local, ["a", "bc"], default).AsTask();
        await s.ReceiveAsync(Header.Length);
        await s.SendAsync(Scripted.Messages("/multistream/1.0.0", "ls"));

        // One message: each protocol as its own length-prefixed line, then the outer newline.
        byte[] list = [0x08, 0x02, (byte)'a', 0x0a, 0x03, (byte)'b', (byte)'c', 0x0a, 0x0a];
        Assert.Equal(list, await s.ReceiveAsync(list.Length));

        await s.SendAsync(Scripted.Message("bc"));
        Assert.Equal("bc", await handle.WaitAsync(Scripted.Patience));
    }

    [Fact]
    public async Task Data_sent_right_after_the_proposal_stays_in_the_pipe()
    {
        var s = new Scripted();
        Task<string> handle = MultistreamSelect.HandleAsync(s.Local, ["/p"], default).AsTask();
        await s.SendAsync([.. Scripted.Messages("/multistream/1.0.0", "/p"), .. "hello"u8]);
        Assert.Equal("/p", await handle.WaitAsync(Scripted.Patience));

        ReadResult result = await s.Local.Input.ReadAsync();
        Assert.Equal("hello"u8.ToArray(), result.Buffer.ToArray());
    }

    [Fact]
    public async Task Dialer_reads_trace_delivered_one_byte_at_a_time()
    {
        var s = new Scripted();
        Task<string> select = MultistreamSelect.SelectAsync(s.Local, ["/x"], default).AsTask();
        foreach (byte b in Scripted.Messages("/multistream/1.0.0", "/x"))
        {
            await s.SendAsync([b]);
        }
        Assert.Equal("/x", await select.WaitAsync(Scripted.Patience));
    }

    [Fact]
    public async Task Multibyte_utf8_protocol_ids_round_trip()
    {
        var s = new Scripted();
        Task<string> handle = MultistreamSelect.HandleAsync(s.Local, ["/прото/ü/1"], default).AsTask();
        string chosen = await MultistreamSelect.SelectAsync(s.Remote, ["/прото/ü/1"], default);
        Assert.Equal("/прото/ü/1", chosen);
        Assert.Equal(chosen, await handle.WaitAsync(Scripted.Patience));
    }
}
