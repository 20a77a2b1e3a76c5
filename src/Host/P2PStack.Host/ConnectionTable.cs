using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Host;

/// <summary>
/// The established connections of one host, by remote peer, with the limits on their number. Shared by the host, the
/// connection manager and the metrics (all from DI), so none of them needs the others. Connections under a
/// per-connection identity are kept too (they count towards the limits), flagged private.
/// </summary>
internal sealed class ConnectionTable(HostLimits limits)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<PeerId, List<HostConnection>> _byPeer = [];
    private int _count;

    /// <summary>Every connection, private ones included.</summary>
    public IReadOnlyList<IConnection> Snapshot()
    {
        lock (_gate) return [.. _byPeer.Values.SelectMany(c => c)];
    }

    /// <summary>The connections under the host's identity.</summary>
    public IReadOnlyList<IConnection> Public()
    {
        lock (_gate) return [.. _byPeer.Values.SelectMany(c => c).Where(c => !c.IsPrivate)];
    }

    public IReadOnlyList<IConnection> Public(PeerId peer)
    {
        lock (_gate) return _byPeer.TryGetValue(peer, out var list) ? [.. list.Where(c => !c.IsPrivate)] : [];
    }

    /// <summary>Adds the connection unless a limit refuses it; returns the refusal.</summary>
    public Exception? TryAdd(HostConnection connection)
    {
        var peer = connection.RemotePeer;
        lock (_gate)
        {
            _byPeer.TryGetValue(peer, out var list);
            if (_count >= limits.MaxConnections)
                return new ResourceLimitExceededException("host", "connections", limits.MaxConnections);
            if (list is not null && list.Count >= limits.MaxConnectionsPerPeer)
                return new ResourceLimitExceededException($"peer {peer}", "connections", limits.MaxConnectionsPerPeer);
            if (list is null) _byPeer[peer] = list = [];
            list.Add(connection);
            _count++;
            return null;
        }
    }

    /// <summary>Removes the connection; returns whether it was listed and whether it was the peer's last one.</summary>
    public (bool Removed, bool LastOfPeer) Remove(HostConnection connection)
    {
        lock (_gate)
        {
            if (!_byPeer.TryGetValue(connection.RemotePeer, out var list) || !list.Remove(connection)) return (false, false);
            _count--;
            if (list.Count > 0) return (true, false);
            _byPeer.Remove(connection.RemotePeer);
            return (true, true);
        }
    }

    /// <summary>
    /// The best open connection to the peer that <paramref name="accept"/> allows: unlimited before limited, direct
    /// before proxied, then the oldest (the one other protocols most likely use already).
    /// </summary>
    public HostConnection? FindBest(PeerId peer, Func<HostConnection, bool> accept)
    {
        lock (_gate)
        {
            if (!_byPeer.TryGetValue(peer, out var list)) return null;
            HostConnection? best = null;
            foreach (var connection in list)
            {
                if (connection.IsClosing || !accept(connection)) continue;
                if (best is null || Rank(connection) < Rank(best)) best = connection;
            }
            return best;
        }
    }

    private static int Rank(HostConnection connection) => (connection.IsLimited ? 2 : 0) + (connection.IsDirect ? 0 : 1);
}
