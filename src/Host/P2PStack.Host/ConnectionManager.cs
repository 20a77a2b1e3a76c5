using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Host;

/// <summary>
/// Watermark-based trimming as go-libp2p's basic connection manager does it: above the high watermark, close the
/// peers of least value (sum of their tags) until the low watermark, sparing protected peers and connections still in
/// their grace period.
/// </summary>
public sealed partial class ConnectionManager(ConnectionManagerOptions options, Func<IReadOnlyList<IConnection>> connections,
    ILogger logger, TimeProvider? timeProvider = null) : IConnectionManager
{
    private readonly ConcurrentDictionary<PeerId, PeerValue> _peers = new();
    private readonly TimeProvider _time = timeProvider ?? TimeProvider.System;
    private int _trimming;

    public void TagPeer(PeerId peer, string tag, int value) => Value(peer).Tags[tag] = value;

    public void UntagPeer(PeerId peer, string tag)
    {
        if (_peers.TryGetValue(peer, out var v)) v.Tags.TryRemove(tag, out _);
    }

    public void Protect(PeerId peer, string tag) => Value(peer).Protections[tag] = 0;

    public bool Unprotect(PeerId peer, string tag)
    {
        if (!_peers.TryGetValue(peer, out var v)) return false;
        v.Protections.TryRemove(tag, out _);
        return !v.Protections.IsEmpty;
    }

    /// <summary>Trims when the count exceeds the high watermark; otherwise does nothing.</summary>
    public Task TrimIfNeededAsync(CancellationToken cancellationToken) =>
        connections().Count > options.HighWater ? TrimAsync(cancellationToken) : Task.CompletedTask;

    public async Task TrimAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _trimming, 1) != 0) return; // one trim at a time
        try
        {
            var all = connections();
            int excess = all.Count - options.LowWater;
            if (excess <= 0) return;
            var now = _time.GetUtcNow();
            var candidates = all
                .Where(c => now - c.OpenedAt >= options.GracePeriod && !IsProtected(c.RemotePeer))
                .GroupBy(c => c.RemotePeer)
                .OrderBy(g => ValueOf(g.Key))
                .ThenBy(g => g.Sum(c => c.StreamCount));
            var victims = new List<IConnection>();
            foreach (var peer in candidates)
            {
                if (victims.Count >= excess) break;
                victims.AddRange(peer);
            }
            // Closed together: each close may wait a little for its streams to drain.
            await Task.WhenAll(victims.Select(c => c.CloseAsync(cancellationToken).AsTask())).ConfigureAwait(false);
            int closed = victims.Count;
            LogTrimmed(closed, all.Count, options.LowWater);
        }
        finally
        {
            Volatile.Write(ref _trimming, 0);
        }
    }

    internal void Forget(PeerId peer)
    {
        if (_peers.TryGetValue(peer, out var v) && v.Tags.IsEmpty && v.Protections.IsEmpty) _peers.TryRemove(peer, out _);
    }

    private bool IsProtected(PeerId peer) => _peers.TryGetValue(peer, out var v) && !v.Protections.IsEmpty;

    private int ValueOf(PeerId peer) => _peers.TryGetValue(peer, out var v) ? v.Tags.Values.Sum() : 0;

    private PeerValue Value(PeerId peer) => _peers.GetOrAdd(peer, static _ => new PeerValue());

    [LoggerMessage(Level = LogLevel.Information, Message = "Connection manager closed {Closed} of {Count} connections (low watermark {LowWater})")]
    private partial void LogTrimmed(int closed, int count, int lowWater);

    private sealed class PeerValue
    {
        public readonly ConcurrentDictionary<string, int> Tags = new(StringComparer.Ordinal);
        public readonly ConcurrentDictionary<string, byte> Protections = new(StringComparer.Ordinal);
    }
}
