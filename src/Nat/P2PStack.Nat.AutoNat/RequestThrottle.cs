using P2PStack.Identity;

namespace P2PStack.Nat.AutoNat;

/// <summary>
/// Admission of AutoNAT requests: a global and a per-peer budget per minute, and a bound on requests in flight.
/// State per peer is bounded; a peer with free identities gets at most the global budget.
/// </summary>
internal sealed class RequestThrottle(AutoNatOptions options, TimeProvider time)
{
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);
    private readonly Dictionary<PeerId, Queue<long>> _perPeer = [];
    private readonly Queue<long> _global = new();
    private int _inFlight;

    /// <summary>Admits a request; dispose the lease when it is served. Null with the reason when refused.</summary>
    public IDisposable? TryEnter(PeerId peer, out string? refusal)
    {
        long now = time.GetTimestamp();
        lock (_perPeer)
        {
            Expire(_global, now);
            if (_inFlight >= options.MaxConcurrentRequests)
            {
                refusal = "too many requests in flight";
                return null;
            }
            if (_global.Count >= options.MaxRequestsPerMinute)
            {
                refusal = "global rate limit";
                return null;
            }
            if (!_perPeer.TryGetValue(peer, out var history))
            {
                if (_perPeer.Count >= options.MaxTrackedPeers) Prune(now);
                if (_perPeer.Count >= options.MaxTrackedPeers)
                {
                    refusal = "too many peers tracked";
                    return null;
                }
                _perPeer[peer] = history = new Queue<long>();
            }
            Expire(history, now);
            if (history.Count >= options.MaxRequestsPerPeerPerMinute)
            {
                refusal = "per-peer rate limit";
                return null;
            }
            history.Enqueue(now);
            _global.Enqueue(now);
            _inFlight++;
            refusal = null;
            return new Lease(this);
        }
    }

    private void Expire(Queue<long> history, long now)
    {
        while (history.Count > 0 && time.GetElapsedTime(history.Peek(), now) >= Window) history.Dequeue();
    }

    private void Prune(long now)
    {
        foreach (var (peer, history) in _perPeer.ToList())
        {
            Expire(history, now);
            if (history.Count == 0) _perPeer.Remove(peer);
        }
    }

    private sealed class Lease(RequestThrottle owner) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
            lock (owner._perPeer) owner._inFlight--;
        }
    }
}
