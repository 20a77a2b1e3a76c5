using P2PStack.Privacy.Onion.Client;
using P2PStack.Privacy.Onion.Crypto;

namespace P2PStack.Privacy.Onion.Tests.Client;

/// <summary>A hop's handshake secrets are used once, then erased: also when the build is cancelled.</summary>
public class BuildKeyErasureTests
{
    private static readonly TimeSpan Patience = OnionTestNetwork.Patience;

    /// <summary>
    /// The first hop's handshake is made on the caller's thread, outside the prepared ones; a cancellation right after
    /// it used to leave its onion secret and X-Wing key to the GC.
    /// </summary>
    [Fact]
    public async Task A_build_cancelled_after_the_first_hop_was_prepared_erases_its_handshake()
    {
        var network = await OnionTestNetwork.StartAsync(relays: 3, clientOptions: o => o.Client.PreemptiveCircuits = 0);
        try
        {
            var client = network.Client.Client;
            var prepared = new List<OnionHandshake.Client>();
            using var cancel = new CancellationTokenSource();
            client.HandshakePrepared = handshake =>
            {
                lock (prepared) prepared.Add(handshake);
                cancel.Cancel();
            };
            await Assert.ThrowsAnyAsync<OperationCanceledException>(
                () => client.BuildCircuitAsync(new CircuitRequest { Hops = 1 }, cancel.Token).WaitAsync(Patience));
            OnionHandshake.Client[] seen;
            lock (prepared) seen = [.. prepared];
            Assert.Single(seen);
            Assert.True(seen[0].Erased);
        }
        finally
        {
            await network.DisposeAsync();
        }
    }
}
