using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using P2PStack.Neural.Messages;
using P2PStack.Transports.Memory;
using Xunit.Abstractions;

namespace P2PStack.Neural.Tests;

/// <summary>Reliable (acknowledged) direct messages: ack, retries with backoff, dedupe, outcome to the sender.</summary>
public sealed class ReliableDeliveryTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_reliable_message_is_acknowledged_and_delivered_once()
    {
        var network = new MemoryNetwork();
        await using var alice = await NeuralPeer.StartAsync(network);
        await using var bob = await NeuralPeer.StartAsync(network);
        await alice.ConnectAsync(bob);
        var report = await alice.Mesh.SendReliableAsync(NeuralDestination.ToPeer(bob.PeerId), new Thought { Content = "hello" });
        Assert.Equal(DeliveryStatus.Delivered, report.Status);
        Assert.Equal(1, report.Attempts);
        Assert.Null(report.Error);
        await NeuralPeer.WaitUntil(() => bob.Recorder.Messages.Count == 1, "delivery");
        Assert.Equal(report.Id, bob.Recorder.Messages[0].Id);
        Assert.Equal(1, alice.Mesh.ReliableCounts.Delivered);
    }

    [Fact]
    public async Task A_message_the_receiver_refuses_is_reported_refused_without_retries()
    {
        var network = new MemoryNetwork();
        await using var alice = await NeuralPeer.StartAsync(network);
        await using var bob = await NeuralPeer.StartAsync(network, o => o.MaxBodySize = 512); // the frame is read, its body is over
        await alice.ConnectAsync(bob);
        var report = await alice.Mesh.SendReliableAsync(NeuralDestination.ToPeer(bob.PeerId), new Thought { Content = new string('x', 800) });
        Assert.True(report.Status == DeliveryStatus.Refused, $"{report.Status}: {report.Error}");
        Assert.Equal(1, report.Attempts);
        Assert.Contains("oversized", report.Error);
        Assert.Equal(1, bob.Mesh.DroppedCount(DropReason.Oversized));
        Assert.Empty(bob.Recorder.Messages);
    }

    [Fact]
    public async Task A_peer_that_never_answers_is_reported_failed_after_the_give_up_time_with_its_attempts()
    {
        var network = new MemoryNetwork();
        await using var alice = await NeuralPeer.StartAsync(network, o =>
        {
            o.ReliableGiveUpAfter = TimeSpan.FromSeconds(2);
            o.ReliableAttemptTimeout = TimeSpan.FromMilliseconds(500);
        });
        var bob = await NeuralPeer.StartAsync(network);
        await alice.ConnectAsync(bob);
        var gone = bob.PeerId;
        await bob.DisposeAsync();
        var report = await alice.Mesh.SendReliableAsync(NeuralDestination.ToPeer(gone), new Thought { Content = "anyone?" });
        Assert.Equal(DeliveryStatus.Failed, report.Status);
        Assert.True(report.Attempts >= 2, $"{report.Attempts} attempts");
        Assert.NotNull(report.Error);
        Assert.Equal(1, alice.Mesh.ReliableCounts.Failed);
        await Assert.ThrowsAsync<ArgumentException>(() =>
            alice.Mesh.SendReliableAsync(NeuralDestination.Swarm("s"), new Thought { Content = "x" }));
    }

    /// <summary>
    /// 20% of the messages and 20% of the acks are lost (seeded): the receiver's handler is behind a lossy double
    /// that, per attempt, either swallows the message or lets it through and swallows the ack, then stays silent until
    /// the sender gives up on the attempt, as a lossy network would. Every message must reach the application exactly
    /// once. Attempts and latency are printed (docs/benchmarks.md), not asserted.
    /// </summary>
    [Fact]
    public async Task Under_twenty_percent_loss_every_message_reaches_the_application_exactly_once()
    {
        const int messages = 100;
        const int concurrency = 25;
        var network = new MemoryNetwork();
        var lossy = new ReliableLoss.LossModel(seed: 20241, lossRate: 0.2, silence: TimeSpan.FromSeconds(1));
        await using var alice = await NeuralPeer.StartAsync(network, o =>
        {
            o.ReliableAttemptTimeout = TimeSpan.FromSeconds(1);
            o.ReliableGiveUpAfter = TimeSpan.FromMinutes(2); // hang guard: the loss is seeded, no message may fail
        });
        await using var bob = await NeuralPeer.StartAsync(network, services: s =>
        {
            s.AddSingleton(lossy);
            s.AddSingleton<NeuralReliableHandler, ReliableLoss.LossyReliableHandler>();
        });
        await alice.ConnectAsync(bob);

        var reports = new ConcurrentBag<DeliveryReport>();
        using var slots = new SemaphoreSlim(concurrency);
        var sends = Enumerable.Range(0, messages).Select(async i =>
        {
            await slots.WaitAsync();
            try
            {
                reports.Add(await alice.Mesh.SendReliableAsync(NeuralDestination.ToPeer(bob.PeerId), new Thought { Content = $"m{i}" }));
            }
            finally
            {
                slots.Release();
            }
        });
        await Task.WhenAll(sends);

        Assert.All(reports, r => Assert.Equal(DeliveryStatus.Delivered, r.Status));
        await NeuralPeer.WaitUntil(() => bob.Recorder.Messages.Count >= messages, "every message at the application");
        await Task.Delay(200); // a late duplicate would show up here
        var received = bob.Recorder.Messages.Select(m => m.Id).ToList();
        Assert.Equal(messages, received.Count);
        Assert.Equal(reports.Select(r => r.Id.ToString()).Order(), received.Select(id => id.ToString()).Order());
        Assert.True(lossy.MessagesLost > 0 && lossy.AcksLost > 0, $"the double lost {lossy.MessagesLost} messages and {lossy.AcksLost} acks");
        Assert.Equal(lossy.AcksLost, bob.Mesh.ReliableCounts.Duplicates); // each lost ack made one retry a duplicate

        var attempts = reports.Select(r => r.Attempts).ToList();
        var latencies = reports.Select(r => r.Elapsed.TotalMilliseconds).Order().ToList();
        double Percentile(double p) => latencies[(int)Math.Min(latencies.Count - 1, Math.Ceiling(p * latencies.Count) - 1)];
        output.WriteLine($"reliable delivery, {messages} messages, {concurrency} in flight, loss 20% of messages and 20% of acks (seed 20241), attempt timeout 1 s:");
        output.WriteLine($"  lost: {lossy.MessagesLost} messages, {lossy.AcksLost} acks; duplicates suppressed at the receiver: {bob.Mesh.ReliableCounts.Duplicates}");
        output.WriteLine($"  attempts: total {attempts.Sum()}, mean {attempts.Average():0.00}, max {attempts.Max()}; " +
            string.Join(", ", attempts.GroupBy(a => a).OrderBy(g => g.Key).Select(g => $"{g.Key}: {g.Count()}")));
        output.WriteLine($"  latency ms: p50 {Percentile(0.5):0} p90 {Percentile(0.9):0} p99 {Percentile(0.99):0} max {latencies[^1]:0}");
    }
}
