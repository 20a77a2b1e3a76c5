using Microsoft.Extensions.DependencyInjection;
using P2PStack.Host;
using P2PStack.Network;
using P2PStack.Neural.Messages;
using P2PStack.Transports.Memory;

namespace P2PStack.Neural.Tests;

/// <summary>
/// The neural mesh's queues reserve their bytes in the resource manager's <c>service neural</c> scope: what does not
/// fit is refused with a typed error (a local send) or dropped and counted (a received message), never queued, and the
/// scope returns to zero once the queues drain or their peer is gone.
/// </summary>
public sealed class MemoryReservationTests
{
    private const long ServiceLimit = 64 * 1024;

    private static Action<IServiceCollection> Limited(long memory) => services => services.Configure<HostOptions>(o =>
        o.Resources.Limits = ResourceLimits.Unlimited with
        {
            Services = new Dictionary<string, ResourceLimit> { [NeuralMesh.ResourceService] = new() { Memory = memory } },
        });

    private static IResourceScope Scope(NeuralPeer peer) => peer.Get<IResourceManager>().Service(NeuralMesh.ResourceService);

    [Fact]
    public async Task Received_messages_beyond_the_scope_are_dropped_while_the_handlers_are_busy_and_released_after()
    {
        var network = new MemoryNetwork();
        await using var victim = await NeuralPeer.StartAsync(network, services: Limited(ServiceLimit));
        await using var sender = await NeuralPeer.StartAsync(network);
        await sender.ConnectAsync(victim);
        victim.Recorder.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var scope = Scope(victim);

        // ~4 KiB thoughts (a queued one holds ~8.4 KiB): the first blocks the dispatch loop in its handler, the
        // inbound queue (1,024 messages) would take every other one; the scope's 64 KiB takes about seven.
        var content = new string('x', 4000);
        var to = NeuralDestination.ToPeer(victim.PeerId);
        for (int i = 0; i < 30; i++) await sender.Mesh.SendAsync(to, new Thought { Content = content });
        await NeuralPeer.WaitUntil(() => victim.Mesh.DroppedCount(DropReason.ResourceLimit) > 0, "a drop for the resource limit");
        Assert.InRange(scope.Usage.Memory, 1, ServiceLimit);
        Assert.True(victim.Get<IResourceManager>().Snapshot().Single(s => s.Name == "service neural").Refusals > 0);

        victim.Recorder.Gate.SetResult();
        // Every thought is delivered or dropped. The scope can read zero while the last ones are still on the wire (a
        // send completes when written), so wait until all 30 are accounted for before comparing.
        int Delivered() => victim.Recorder.Messages.Count(m => m.Body is Thought);
        await NeuralPeer.WaitUntil(() => Delivered() + victim.Mesh.DroppedCount(DropReason.ResourceLimit) >= 30,
            "each of the 30 thoughts to be delivered or dropped");
        await NeuralPeer.WaitUntil(() => scope.Usage.Memory == 0, "the victim's neural scope to return to zero");
        long dropped = victim.Mesh.DroppedCount(DropReason.ResourceLimit);
        Assert.Equal(30 - dropped, Delivered());
        await NeuralPeer.WaitUntil(() => Scope(sender).Usage.Memory == 0, "the sender's neural scope to return to zero");
    }

    [Fact]
    public async Task A_peer_that_never_reads_makes_local_sends_fail_typed_and_its_queue_is_released_when_it_goes()
    {
        var network = new MemoryNetwork();
        await using var victim = await NeuralPeer.StartAsync(network, o => o.SendTimeout = TimeSpan.FromMinutes(5), Limited(ServiceLimit));
        var sinkServices = new ServiceCollection();
        sinkServices.AddSingleton(network);
        sinkServices.AddP2PStack(p2p => p2p.ListenOn("/memory/0").AddMemoryTransport().AddNoise().AddYamux());
        var sinkProvider = sinkServices.BuildServiceProvider();
        var sink = sinkProvider.GetRequiredService<PeerHost>();
        using var registration = sink.AddHandler(new NeverReads());
        await sink.StartAsync(CancellationToken.None);
        await victim.Host.DialAsync(sink.ListenAddresses[0].Encapsulate($"/p2p/{sink.PeerId}"), CancellationToken.None)
            .AsTask().WaitAsync(NeuralPeer.Patience);
        var scope = Scope(victim);

        // One yamux window (256 KiB) of frames goes out; then the pump waits on its flush and the queue fills. The
        // queue (1,024 frames) is not the bound: the scope is, at half its 64 KiB for send queues (priority 127).
        var content = new string('x', 4000);
        var to = NeuralDestination.ToPeer(sink.PeerId);
        ResourceLimitExceededException? refusal = null;
        for (int i = 0; i < 200 && refusal is null; i++)
        {
            try
            {
                await victim.Mesh.PostAsync(to, new Thought { Content = content });
            }
            catch (ResourceLimitExceededException e)
            {
                refusal = e;
            }
        }
        Assert.NotNull(refusal);
        Assert.Contains("service neural", refusal.Message, StringComparison.Ordinal);
        // What the queue held when refused: some, and within the send queues' half (the request would have crossed
        // it). Not the usage read now: on a loaded machine the pump may lag this loop, so the refusal can come before
        // the yamux window is full and the queue then drains.
        Assert.InRange(refusal.Used ?? 0, 1, ServiceLimit / 2);
        Assert.True(refusal.Used + refusal.Requested > ServiceLimit / 2, $"refused below the send queues' share: {refusal.Message}");
        Assert.InRange(scope.Usage.Memory, 0, ServiceLimit / 2);

        // The peer goes: the pump fails what is queued and the scope returns to zero.
        await sinkProvider.DisposeAsync();
        await NeuralPeer.WaitUntil(() => scope.Usage.Memory == 0, "the neural scope to return to zero");
        Assert.Equal(0, victim.Mesh.QueueDepth(sink.PeerId));
    }

    private sealed class NeverReads : IProtocolHandler
    {
        public IReadOnlyList<string> Protocols => [NeuralProtocol.ProtocolId];

        public Task HandleAsync(IStream stream, CancellationToken cancellationToken) => Task.Delay(Timeout.Infinite, cancellationToken);
    }
}
