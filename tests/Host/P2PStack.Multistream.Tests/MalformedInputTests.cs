using P2PStack.Encoding;

namespace P2PStack.Multistream.Tests;

public class MalformedInputTests
{
    private static readonly byte[] Header = Scripted.Message("/multistream/1.0.0");

    private static async Task<Exception> ListenerErrorAsync(byte[] input)
    {
        var s = new Scripted();
        Task<string> handle = MultistreamSelect.HandleAsync(s.Local, ["/p"], default).AsTask();
        await s.SendAsync(input, complete: true);
        return await Assert.ThrowsAnyAsync<Exception>(() => handle.WaitAsync(Scripted.Patience));
    }

    private static async Task<Exception> DialerErrorAsync(byte[] input)
    {
        var s = new Scripted();
        Task<string> select = MultistreamSelect.SelectAsync(s.Local, ["/p"], default).AsTask();
        await s.SendAsync(input, complete: true);
        return await Assert.ThrowsAnyAsync<Exception>(() => select.WaitAsync(Scripted.Patience));
    }

    [Fact]
    public async Task Oversized_length_is_refused_before_the_body_arrives()
    {
        var s = new Scripted();
        Task<string> handle = MultistreamSelect.HandleAsync(s.Local, ["/p"], default).AsTask();
        await s.SendAsync([.. Header, .. Varint.Encode(1025)]); // no body, stream left open
        var error = await Assert.ThrowsAsync<MultistreamException>(() => handle.WaitAsync(Scripted.Patience));
        Assert.Contains("1025", error.Message);
    }

    /// <summary>What a peer behind another private network key sends: noise whose first bytes announce a message
    /// longer than the header, with too few bytes behind it. Both sides fail at once rather than waiting for the rest
    /// until the negotiation timeout.</summary>
    [Fact]
    public async Task A_first_message_longer_than_the_header_is_refused_before_its_body_arrives()
    {
        byte[] noise = [.. Varint.Encode(300), .. new byte[40]]; // stream left open: the rest never comes
        var listener = new Scripted();
        Task<string> handle = MultistreamSelect.HandleAsync(listener.Local, ["/p"], default).AsTask();
        await listener.SendAsync(noise);
        var refused = await Assert.ThrowsAsync<MultistreamException>(() => handle.WaitAsync(Scripted.Patience));
        Assert.Contains("300", refused.Message);

        var dialer = new Scripted();
        Task<string> select = MultistreamSelect.SelectAsync(dialer.Local, ["/p"], default).AsTask();
        await dialer.SendAsync(noise);
        Assert.IsType<MultistreamException>(await Record.ExceptionAsync(() => select.WaitAsync(Scripted.Patience)));
    }

    [Fact]
    public async Task Exactly_the_limit_is_accepted()
    {
        string id = "/" + new string('a', 1022); // 1023 bytes + newline = 1024
        var s = new Scripted();
        Task<string> handle = MultistreamSelect.HandleAsync(s.Local, [id], default).AsTask();
        await s.SendAsync([.. Header, .. Scripted.Message(id)]);
        Assert.Equal(id, await handle.WaitAsync(Scripted.Patience));
    }

    [Fact]
    public async Task Missing_newline_is_a_format_error()
    {
        var error = await ListenerErrorAsync([.. Header, 0x02, (byte)'/', (byte)'p']);
        Assert.IsType<MultistreamException>(error);
        Assert.Contains("newline", error.Message);
    }

    [Fact]
    public async Task Zero_length_message_is_a_format_error()
    {
        Assert.IsType<MultistreamException>(await ListenerErrorAsync([.. Header, 0x00]));
    }

    [Fact]
    public async Task Invalid_utf8_is_a_format_error()
    {
        var error = await ListenerErrorAsync([.. Header, 0x04, (byte)'/', 0xC3, 0x28, 0x0a]);
        Assert.IsType<MultistreamException>(error);
        Assert.Contains("UTF-8", error.Message);
    }

    [Fact]
    public async Task Bad_varint_is_a_format_error()
    {
        Assert.IsType<MultistreamException>(await ListenerErrorAsync([.. Header, 0x80, 0x00]));
        Assert.IsType<MultistreamException>(await ListenerErrorAsync([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]));
    }

    [Fact]
    public async Task Wrong_header_is_a_format_error_on_both_sides()
    {
        Assert.IsType<MultistreamException>(await ListenerErrorAsync(Scripted.Messages("/multistream/2.0.0", "/p")));
        Assert.IsType<MultistreamException>(await DialerErrorAsync(Scripted.Messages("/p", "/p")));
    }

    [Fact]
    public async Task Unexpected_answer_is_a_format_error()
    {
        var error = await DialerErrorAsync(Scripted.Messages("/multistream/1.0.0", "/something-else"));
        Assert.IsType<MultistreamException>(error);
        Assert.Contains("/something-else", error.Message);
    }

    [Fact]
    public async Task Truncation_is_end_of_stream()
    {
        Assert.IsType<EndOfStreamException>(await ListenerErrorAsync([.. Header, 0x03, (byte)'/']));
        Assert.IsType<EndOfStreamException>(await DialerErrorAsync(Header));
        Assert.IsType<EndOfStreamException>(await ListenerErrorAsync([]));
    }

    [Fact]
    public async Task Malformed_ls_response_is_a_format_error()
    {
        async Task<Exception> ListErrorAsync(byte[] response)
        {
            var s = new Scripted();
            Task<IReadOnlyList<string>> list = MultistreamSelect.ListAsync(s.Local, default).AsTask();
            await s.SendAsync([.. Header, .. response], complete: true);
            return await Assert.ThrowsAnyAsync<Exception>(() => list.WaitAsync(Scripted.Patience));
        }

        Assert.IsType<MultistreamException>(await ListErrorAsync([0x03, 0x05, (byte)'a', 0x0a])); // entry overruns
        Assert.IsType<MultistreamException>(await ListErrorAsync([0x03, 0x02, (byte)'a', (byte)'b'])); // no outer newline
        Assert.IsType<MultistreamException>(await ListErrorAsync([0x04, 0x02, (byte)'a', (byte)'b', 0x0a])); // entry without newline
    }
}
