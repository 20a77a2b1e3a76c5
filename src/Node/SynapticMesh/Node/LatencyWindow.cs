using System.Collections.Concurrent;
using P2PStack.Identity;

namespace SynapticMesh.Node;

/// <summary>Round trips to one peer over the recent window (what <c>status</c> calls min, mean and max).</summary>
public sealed record LatencyWindowStats(TimeSpan Current, TimeSpan Min, TimeSpan Mean, TimeSpan Max, int Samples, TimeSpan Window);

/// <summary>
/// The recent round-trip samples of each peer: at most <see cref="MaxSamples"/> per peer, none older than
/// <see cref="Window"/>, at most <see cref="MaxPeers"/> peers (the least recently sampled are forgotten first). The
/// peer store keeps only an exponentially weighted average and all-time extremes; this is what "mean over a window"
/// is computed from.
/// </summary>
public sealed class LatencyWindow(TimeProvider? time = null)
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ConcurrentDictionary<PeerId, Samples> _peers = new();

    public TimeSpan Window { get; init; } = TimeSpan.FromMinutes(5);

    public int MaxSamples { get; init; } = 64;

    public int MaxPeers { get; init; } = 4096;

    public void Record(PeerId peer, TimeSpan rtt)
    {
        var now = _time.GetUtcNow();
        if (_peers.Count >= MaxPeers && !_peers.ContainsKey(peer)) Evict();
        var samples = _peers.GetOrAdd(peer, _ => new Samples());
        lock (samples)
        {
            samples.Queue.Enqueue((now, rtt));
            while (samples.Queue.Count > MaxSamples) samples.Queue.Dequeue();
            samples.Last = now;
        }
    }

    /// <summary>The statistics of the samples still in the window, or null when there are none.</summary>
    public LatencyWindowStats? Get(PeerId peer)
    {
        if (!_peers.TryGetValue(peer, out var samples)) return null;
        var since = _time.GetUtcNow() - Window;
        lock (samples)
        {
            while (samples.Queue.Count > 0 && samples.Queue.Peek().At < since) samples.Queue.Dequeue();
            if (samples.Queue.Count == 0) return null;
            var rtts = samples.Queue.Select(s => s.Rtt).ToList();
            return new LatencyWindowStats(rtts[^1], rtts.Min(), TimeSpan.FromTicks((long)rtts.Average(r => r.Ticks)), rtts.Max(), rtts.Count, Window);
        }
    }

    public void Forget(PeerId peer) => _peers.TryRemove(peer, out _);

    private void Evict()
    {
        // Rare (thousands of peers sampled): drop the oldest tenth in one pass.
        foreach (var (peer, _) in _peers.OrderBy(p => p.Value.Last).Take(Math.Max(1, MaxPeers / 10)).ToList()) _peers.TryRemove(peer, out _);
    }

    private sealed class Samples
    {
        public Queue<(DateTimeOffset At, TimeSpan Rtt)> Queue { get; } = new();

        public DateTimeOffset Last { get; set; }
    }
}
