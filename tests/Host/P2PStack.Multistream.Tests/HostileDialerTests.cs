namespace P2PStack.Multistream.Tests;

/// <summary>A dialer that abuses <c>ls</c>: the listener's work and output stay bounded.</summary>
public class HostileDialerTests
{
    [Fact]
    public async Task Repeated_ls_requests_count_as_proposals_and_end_the_negotiation()
    {
        var s = new Scripted();
        var options = new MultistreamOptions { MaxProposals = 4 };
        Task<string> handle = MultistreamSelect.HandleAsync(s.Local, ["/a", "/b"], default, options).AsTask();
        await s.SendAsync(Scripted.Messages(["/multistream/1.0.0", .. Enumerable.Repeat("ls", 100)]));

        await Assert.ThrowsAsync<TooManyProposalsException>(() => handle.WaitAsync(Scripted.Patience));
        // Exactly four answers went out: the header, then one list per allowed round, nothing for the other 96.
        await s.Local.Output.CompleteAsync();
        byte[] list = Scripted.Message("\u0003/a\n\u0003/b\n"); // outer message: the entries, each length-prefixed
        byte[] expected = [.. Scripted.Message("/multistream/1.0.0"), .. list, .. list, .. list, .. list];
        Assert.Equal(expected, await s.ReceiveAllAsync());
    }

    [Fact]
    public async Task A_dialer_that_asks_ls_but_never_reads_is_cut_at_the_negotiation_timeout()
    {
        var s = new Scripted();
        var advertised = Enumerable.Range(0, 2000).Select(i => $"/some/long/protocol/name/{i}/1.0.0").ToArray(); // ~70 KB per answer
        var options = new MultistreamOptions { NegotiationTimeout = TimeSpan.FromMilliseconds(200) };
        Task<string> handle = MultistreamSelect.HandleAsync(s.Local, advertised, default, options).AsTask();
        await s.SendAsync(Scripted.Messages(["/multistream/1.0.0", .. Enumerable.Repeat("ls", 10)]));

        // The answers back up in the pipe (its writer pauses at 64 KB): the listener waits, then gives up.
        await Assert.ThrowsAsync<TimeoutException>(() => handle.WaitAsync(Scripted.Patience));
    }
}
