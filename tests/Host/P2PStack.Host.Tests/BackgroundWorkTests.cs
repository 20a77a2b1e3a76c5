using Microsoft.Extensions.DependencyInjection;
using P2PStack.Network;
using P2PStack.Transports.Memory;

namespace P2PStack.Host.Tests;

/// <summary>What a host starts in the background is its own: stopping cancels it and waits for it.</summary>
public class BackgroundWorkTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Stopping_waits_for_stream_handlers_and_module_work_to_end()
    {
        var network = new MemoryNetwork();
        await using var server = await TestPeer.StartAsync("/memory/0", network);
        await using var client = await TestPeer.StartAsync("/memory/0", network);
        var handler = new BlockingHandler();
        using var registration = server.Host.AddHandler(handler);
        var moduleWork = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        bool moduleWorkEnded = false;
        server.Host.RunInBackground(async token =>
        {
            moduleWork.SetResult();
            try
            {
                await Task.Delay(Timeout.Infinite, token);
            }
            finally
            {
                Volatile.Write(ref moduleWorkEnded, true);
            }
        });
        await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        await using var stream = await client.Host.OpenStreamAsync(server.Host.PeerId, [BlockingHandler.Protocol], CancellationToken.None);
        await stream.Output.WriteAsync(new byte[] { 1 });
        await Task.WhenAll(handler.Started, moduleWork.Task).WaitAsync(Patience);

        await server.Host.StopAsync(CancellationToken.None).WaitAsync(Patience);
        Assert.True(handler.Ended);
        Assert.True(Volatile.Read(ref moduleWorkEnded));
        Assert.Equal(0, server.Host.BackgroundWorkCount);
    }

    [Fact]
    public async Task The_connection_manager_and_the_metrics_come_from_the_container()
    {
        await using var peer = await TestPeer.StartAsync("/memory/0", new MemoryNetwork());
        Assert.Same(peer.Get<IConnectionManager>(), peer.Host.ConnectionManager);
        Assert.Same(peer.Get<ConnectionManager>(), peer.Host.ConnectionManager);
        Assert.Same(peer.Get<IAddressManager>(), peer.Host.AddressManager);
        Assert.NotNull(peer.Get<Metrics.HostMetrics>());
    }

    /// <summary>Reads one byte, then waits for its cancellation, which only the host's stop brings.</summary>
    private sealed class BlockingHandler : IProtocolHandler
    {
        public const string Protocol = "/test/blocking/1.0.0";
        private readonly TaskCompletionSource _started = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private volatile bool _ended;

        public IReadOnlyList<string> Protocols { get; } = [Protocol];

        public Task Started => _started.Task;

        public bool Ended => _ended;

        public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
        {
            await using (stream)
            {
                try
                {
                    await stream.Input.ReadAsync(cancellationToken);
                    _started.SetResult();
                    // Ignores the stream ending; only the token stops it.
                    await Task.Delay(Timeout.Infinite, cancellationToken);
                }
                finally
                {
                    _ended = true;
                }
            }
        }
    }
}
