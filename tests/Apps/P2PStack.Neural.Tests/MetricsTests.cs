using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using P2PStack.Neural.Messages;
using P2PStack.Transports.Memory;

namespace P2PStack.Neural.Tests;

public class MetricsTests
{
    [Fact]
    public async Task Local_agents_talk_and_the_instruments_report_it()
    {
        await using var peer = await NeuralPeer.StartAsync(new MemoryNetwork());
        var measurements = new ConcurrentBag<(string Name, double Value, Dictionary<string, object?> Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == NeuralMetrics.MeterName) l.EnableMeasurementEvents(instrument);
        };
        void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
        {
            var dictionary = new Dictionary<string, object?>();
            foreach (var tag in tags) dictionary[tag.Key] = tag.Value;
            measurements.Add((instrument.Name, value, dictionary));
        }
        listener.SetMeasurementEventCallback<long>((i, v, t, s) => Record(i, v, t, s));
        listener.SetMeasurementEventCallback<double>(Record);
        listener.SetMeasurementEventCallback<int>((i, v, t, s) => Record(i, v, t, s));
        listener.Start();

        await peer.Mesh.RegisterAgentAsync("left");
        await peer.Mesh.RegisterAgentAsync("right");
        var id = await peer.Mesh.SendAsync(NeuralDestination.Agent("right"), new ConsensusVote { ProposalId = "p", Accept = true, Content = "metrics-test" },
            new SendOptions { FromAgent = "left" });
        await NeuralPeer.WaitUntil(() => peer.Recorder.Messages.Any(m => m.Id == id), "local delivery");
        var reply = await peer.Mesh.SendCommandAsync(NeuralDestination.Agent("right"), new Command { Name = "echo", Args = { "self" } },
            new SendOptions { FromAgent = "left" }).WaitAsync(NeuralPeer.Patience);
        Assert.Equal($"{peer.PeerId}: self", reply.Body.Content);
        Assert.Equal("right", reply.SourceAgent);
        listener.RecordObservableInstruments();

        Assert.Contains(measurements, m => m.Name == "p2pstack_neural_messages_sent_total" && (string?)m.Tags["type"] == "vote");
        Assert.Contains(measurements, m => m.Name == "p2pstack_neural_messages_received_total" && (string?)m.Tags["type"] == "vote");
        Assert.True(measurements.Any(m => m.Name == "p2pstack_neural_message_latency_seconds" && m.Value >= 0 && (string?)m.Tags["type"] == "response"), string.Join("; ", measurements.Where(m => !m.Name.Contains("queued") && !m.Name.Contains("pending")).Select(m => $"{m.Name} {m.Value} {string.Join(",", m.Tags)}")));
        Assert.Contains(measurements, m => m.Name == "p2pstack_neural_queued_messages");
        Assert.Contains(measurements, m => m.Name == "p2pstack_neural_pending_commands");
        var stats = peer.Mesh.GetStats();
        Assert.Equal(1, stats.ReceivedByType["vote"]);
        Assert.Equal(["left", "right"], stats.Agents);
        Assert.Empty(stats.DroppedByTypeAndReason);
    }
}
