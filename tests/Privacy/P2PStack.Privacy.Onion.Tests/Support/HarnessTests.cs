using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace P2PStack.Privacy.Onion.Tests;

/// <summary>
/// The test harness fails a test with a message instead of hanging the run or throwing a bare cancellation: a network
/// whose teardown hangs throws after <see cref="OnionTestNetwork.TeardownTimeout"/> naming the node and the step, and a
/// wait that times out names what it waited for.
/// </summary>
public class HarnessTests
{
    private static readonly TimeSpan Patience = OnionTestNetwork.Patience;

    [Fact]
    public async Task A_teardown_that_hangs_fails_naming_the_node_and_the_step_instead_of_hanging_the_run()
    {
        var hang = new HangingService();
        var network = await OnionTestNetwork.StartAsync(relays: 1,
            configureRelay: (_, p2p) => p2p.Services.AddSingleton<IHostedService>(hang));
        network.TeardownTimeout = TimeSpan.FromSeconds(1);
        try
        {
            // The hang guard of this test only: the teardown itself must give up long before.
            var error = await Record.ExceptionAsync(() => network.DisposeAsync().AsTask().WaitAsync(Patience));
            var timeout = Assert.IsType<TimeoutException>(error);
            Assert.Contains("teardown overran its 1 s", timeout.Message, StringComparison.Ordinal);
            Assert.Contains($"relay 0 {network.Relays[0].PeerId}", timeout.Message, StringComparison.Ordinal);
            Assert.Contains($"still waiting for {nameof(HangingService)}.StopAsync", timeout.Message, StringComparison.Ordinal);
            Assert.Contains("not torn down: destination", timeout.Message, StringComparison.Ordinal);
            Assert.True(network.Client.IsDisposed, "the client was torn down before the relay hung");
        }
        finally
        {
            hang.Release();
            await network.DisposeAsync(); // tears down what the overrun left
        }
        Assert.True(network.Destination.IsDisposed);
    }

    [Fact]
    public async Task A_wait_that_times_out_names_what_it_waited_for_and_what_it_saw_last()
    {
        int seen = 0;
        var error = await Record.ExceptionAsync(() => Waits.UntilAsync(() => ++seen < 0, "the impossible", TimeSpan.FromMilliseconds(100), () => $"{seen} polls"));
        var timeout = Assert.IsType<TimeoutException>(error);
        Assert.StartsWith("timed out after 0.1 s waiting for the impossible (last seen: ", timeout.Message, StringComparison.Ordinal);
        Assert.EndsWith(" polls)", timeout.Message, StringComparison.Ordinal);
    }

    /// <summary>A hosted service whose stop never ends until released (a teardown bug in the code under test).</summary>
    private sealed class HangingService : IHostedService
    {
        private readonly TaskCompletionSource _released = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => _released.Task;

        public void Release() => _released.TrySetResult();
    }
}
