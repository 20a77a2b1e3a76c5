using P2PStack.Neural;

namespace SynapticMesh.Node;

/// <summary>
/// Swarms joined for <c>listen --swarm</c> only: the node joins a swarm when the first such listener starts (unless
/// it is a member already) and leaves it when the last one ends, so overlapping listeners do not pull the swarm from
/// under each other, and a swarm joined with <c>p2p swarm join</c> stays joined.
/// </summary>
public sealed class SwarmListeners(NeuralMesh mesh)
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<string, int> _listeners = new(StringComparer.Ordinal);

    /// <summary>Joins the swarm if needed; dispose the result when the listener ends.</summary>
    public async Task<IAsyncDisposable> AcquireAsync(string swarm, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (_listeners.TryGetValue(swarm, out int count)) _listeners[swarm] = count + 1;
            else if (!mesh.JoinedSwarms.Contains(swarm))
            {
                await mesh.JoinSwarmAsync(swarm, cancellationToken);
                _listeners[swarm] = 1;
            }
            else return new Lease(null); // a member already: listening changes nothing
        }
        finally
        {
            _gate.Release();
        }
        return new Lease(async () =>
        {
            await _gate.WaitAsync(CancellationToken.None);
            try
            {
                if (!_listeners.TryGetValue(swarm, out int left)) return; // joined explicitly since: stays
                if (left > 1)
                {
                    _listeners[swarm] = left - 1;
                    return;
                }
                _listeners.Remove(swarm);
                await mesh.LeaveSwarmAsync(swarm);
            }
            finally
            {
                _gate.Release();
            }
        });
    }

    /// <summary>The swarm is now an explicit membership (<c>p2p swarm join</c>): listeners ending will not leave it.</summary>
    public async Task KeepAsync(string swarm)
    {
        await _gate.WaitAsync(CancellationToken.None);
        try
        {
            _listeners.Remove(swarm);
        }
        finally
        {
            _gate.Release();
        }
    }

    private sealed class Lease(Func<Task>? release) : IAsyncDisposable
    {
        private Func<Task>? _release = release;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _release, null) is { } release) await release();
        }
    }
}
