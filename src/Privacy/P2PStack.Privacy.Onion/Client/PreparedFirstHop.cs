using P2PStack.Privacy.Onion.Crypto;
using P2PStack.Privacy.Onion.Directory;

namespace P2PStack.Privacy.Onion.Client;

/// <summary>
/// The first hop's handshake (its CREATE: the encapsulation to the relay's onion key, about 50 µs) prepared after a
/// build whose first relay was pinned, for the next build through the same relay and onion key: that build sends its
/// CREATE without computing it on its critical path (hops 2.. are already prepared during the first round trip). One
/// handshake at most is held; it serves one hop and is erased after it, or erased when the next build's first relay
/// or its onion key differ, or when the client is disposed (docs/specs/onion.md, section 4: values generated ahead).
/// </summary>
internal sealed class PreparedFirstHop : IDisposable
{
    private readonly Lock _gate = new();
    private readonly Func<RelayInfo, OnionHandshake.Client> _prepare;
    private readonly Action<Exception>? _failed;
    private int _failedOnce;
    private Ready? _ready;
    private int _preparing;
    private bool _disposed;

    /// <param name="failed">Told of the first preparation that fails (a bug, not network input), to log it once.</param>
    public PreparedFirstHop(Func<RelayInfo, OnionHandshake.Client> prepare, Action<Exception>? failed = null) =>
        (_prepare, _failed) = (prepare, failed);

    private sealed record Ready(RelayInfo Relay, OnionHandshake.Client Handshake);

    /// <summary>Whether a handshake is held (for tests).</summary>
    internal bool IsReady
    {
        get { lock (_gate) return _ready is not null; }
    }

    /// <summary>The handshake prepared for <paramref name="relay"/>, or null; one prepared for another relay or onion key
    /// is erased.</summary>
    public OnionHandshake.Client? Take(RelayInfo relay)
    {
        Ready? ready;
        lock (_gate)
        {
            ready = _ready;
            _ready = null;
        }
        if (ready is null) return null;
        if (Matches(ready.Relay, relay)) return ready.Handshake;
        ready.Handshake.Dispose();
        return null;
    }

    /// <summary>Prepares a handshake for <paramref name="relay"/> on the thread pool, unless one is held for it or under
    /// way: called after a build, not beside its round trips.</summary>
    public void PrepareFor(RelayInfo relay)
    {
        lock (_gate)
        {
            if (_disposed || (_ready is { } held && Matches(held.Relay, relay))) return;
        }
        if (Interlocked.CompareExchange(ref _preparing, 1, 0) != 0) return;
        ThreadPool.UnsafeQueueUserWorkItem(static state => state.Self.PrepareNow(state.Relay), (Self: this, Relay: relay), preferLocal: false);
    }

    private void PrepareNow(RelayInfo relay)
    {
        try
        {
            var handshake = _prepare(relay);
            Ready? dropped;
            lock (_gate)
            {
                if (_disposed) dropped = new Ready(relay, handshake);
                else
                {
                    dropped = _ready;
                    _ready = new Ready(relay, handshake);
                }
            }
            dropped?.Handshake.Dispose();
        }
        catch (Exception e)
        {
            // Preparing failing is a bug, not network input: the next build prepares on the spot and throws there. Told
            // once (logged), not per build.
            if (Interlocked.Exchange(ref _failedOnce, 1) == 0) _failed?.Invoke(e);
        }
        finally
        {
            Volatile.Write(ref _preparing, 0);
        }
    }

    private static bool Matches(RelayInfo held, RelayInfo relay) =>
        held.Peer.Equals(relay.Peer) && held.OnionKey.AsSpan().SequenceEqual(relay.OnionKey);

    public void Dispose()
    {
        Ready? ready;
        lock (_gate)
        {
            _disposed = true;
            ready = _ready;
            _ready = null;
        }
        ready?.Handshake.Dispose();
    }
}
