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
    private readonly Dictionary<System.Net.IPAddress, int> _inboundByIp = [];

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
            // Connection counts (total, per peer) are the resource manager's, checked before this; per IP is ours.
            _byPeer.TryGetValue(peer, out var list);
            var ip = IpGroup(connection);
            if (ip is not null && _inboundByIp.GetValueOrDefault(ip) >= limits.MaxInboundConnectionsPerIp)
                return new ResourceLimitExceededException($"ip {ip}", "inbound connections", limits.MaxInboundConnectionsPerIp);
            if (list is null) _byPeer[peer] = list = [];
            list.Add(connection);
            if (ip is not null) _inboundByIp[ip] = _inboundByIp.GetValueOrDefault(ip) + 1;
            return null;
        }
    }

    /// <summary>What <see cref="HostLimits.MaxInboundConnectionsPerIp"/> counts the connection under, or null when it
    /// does not count (outbound, proxied, no IP, or an exempt loopback address).</summary>
    private System.Net.IPAddress? IpGroup(HostConnection connection)
    {
        if (connection.Direction != Direction.Inbound || !connection.IsDirect) return null;
        var remote = connection.RemoteAddress.GetIPAddress();
        if (remote is null || (limits.ExemptLoopbackFromIpLimit && System.Net.IPAddress.IsLoopback(remote))) return null;
        return PeerHost.AdmissionGroup(remote);
    }

    /// <summary>Removes the connection; returns whether it was listed and whether it was the peer's last one.</summary>
    public (bool Removed, bool LastOfPeer) Remove(HostConnection connection)
    {
        lock (_gate)
        {
            if (!_byPeer.TryGetValue(connection.RemotePeer, out var list) || !list.Remove(connection)) return (false, false);
            if (IpGroup(connection) is { } ip)
            {
                int left = _inboundByIp.GetValueOrDefault(ip) - 1;
                if (left > 0) _inboundByIp[ip] = left;
                else _inboundByIp.Remove(ip);
            }
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
