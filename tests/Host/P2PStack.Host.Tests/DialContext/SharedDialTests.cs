using P2PStack.Network;
using P2PStack.Transports.Memory;

namespace P2PStack.Host.Tests;

/// <summary>Callers dialing the same peer meanwhile share one attempt; one caller's cancellation is never another's.</summary>
public sealed class SharedDialTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_caller_arriving_after_the_shared_dials_only_caller_gave_up_gets_the_connection_not_that_cancellation()
    {
        var network = new MemoryNetwork();
        var gate = new HoldingGater();
        await using var server = await TestPeer.StartAsync("/memory/0", network);
        await using var client = await TestPeer.StartAsync("/memory/0", network, configure: p2p => p2p.AddConnectionGater(gate));

        // The first caller's attempt is held at the gate; the caller gives up, which cancels the shared attempt, but the
        // attempt is still unwinding (held) when the second caller dials.
        using var first = new CancellationTokenSource();
        var abandoned = client.Host.DialAsync(server.Address, first.Token).AsTask();
        await gate.Entered.WaitAsync(Patience);
        await first.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned.WaitAsync(Patience));

        var second = client.Host.DialAsync(server.Address, CancellationToken.None).AsTask();
        gate.Release();

        var connection = await second.WaitAsync(Patience);
        Assert.Equal(server.Host.PeerId, connection.RemotePeer);
    }
}
