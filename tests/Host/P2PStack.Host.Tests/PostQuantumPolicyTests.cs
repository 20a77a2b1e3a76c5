using P2PStack.Network;
using P2PStack.Security.Noise;

namespace P2PStack.Host.Tests;

public class PostQuantumPolicyTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_peer_that_requires_post_quantum_refuses_a_classical_only_peer_with_a_clear_error()
    {
        await using var strict = await TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0",
            noise: o => o.PostQuantum.RequirePostQuantum = true);
        await using var classical = await TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0",
            noise: o => o.PostQuantum.Enabled = false);

        var error = await Assert.ThrowsAsync<HandshakeException>(() =>
            strict.Host.DialAsync(classical.Address, CancellationToken.None).AsTask().WaitAsync(Patience));
        Assert.Contains("no common security protocol", error.Message);
        Assert.Contains("/noise-mlkem768-hfs/0.1.0", error.Message);

        // The other way round, the classical peer's dial is refused too; nothing stays connected.
        await Assert.ThrowsAnyAsync<Exception>(() =>
            classical.Host.DialAsync(strict.Address, CancellationToken.None).AsTask().WaitAsync(Patience));
        Assert.Empty(strict.Host.GetConnections());
    }

    [Theory]
    [InlineData("/noise-mlkem512-hfs/0.1.0")]
    [InlineData("/noise-mlkem1024-hfs/0.1.0")]
    [InlineData("/noise")]
    public async Task Dial_options_pick_the_suite_and_open_a_new_connection_when_the_existing_one_differs(string suite)
    {
        await using var server = await TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0");
        await using var client = await TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0");
        var first = await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.Equal("/noise-mlkem768-hfs/0.1.0", first.SecurityProtocol);
        Assert.True(first.SecurityHandshakeDuration > TimeSpan.Zero);

        var options = new DialOptions { SecurityProtocols = [suite] };
        var second = await client.Host.DialAsync(server.Address, options, CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.Equal(suite, second.SecurityProtocol);
        Assert.NotSame(first, second);
        Assert.Same(second, await client.Host.DialAsync(server.Host.PeerId, options, CancellationToken.None));
    }
}
