using System.Net;
using System.Net.Sockets;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Nat.Relay;

/// <summary>
/// Reservations on our relay: one per peer (a refresh extends it), bounded in total and per source IP (/64 for IPv6),
/// valid while unexpired and while the connection it was made on lives.
/// </summary>
internal sealed class ReservationTable(RelayServiceOptions options, TimeProvider time)
{
    private readonly Dictionary<PeerId, Entry> _entries = [];

    public int Count
    {
        get
        {
            lock (_entries)
            {
                Prune();
                return _entries.Count;
            }
        }
    }

    /// <summary>Adds or refreshes the peer's reservation; the refusal reason (a metric label) when it cannot.</summary>
    public bool TryReserve(PeerId peer, IConnection connection, out DateTimeOffset expire, out bool isNew, out string? refusal)
    {
        string group = IpGroup(connection.RemoteAddress.GetIPAddress());
        lock (_entries)
        {
            Prune();
            expire = time.GetUtcNow() + options.ReservationTtl;
            isNew = !_entries.TryGetValue(peer, out var existing) || existing.Connection != connection;
            if (existing is null && _entries.Count >= options.MaxReservations)
            {
                refusal = "refused_limit";
                return false;
            }
            int sameIp = _entries.Values.Count(e => e.IpGroup == group && !e.Peer.Equals(peer));
            if (sameIp >= options.MaxReservationsPerIp)
            {
                refusal = "refused_per_ip";
                return false;
            }
            _entries[peer] = new Entry(peer, group, expire, connection);
            refusal = null;
            return true;
        }
    }

    /// <summary>The connection of the peer's live reservation, or null.</summary>
    public IConnection? Find(PeerId peer)
    {
        lock (_entries)
        {
            Prune();
            return _entries.TryGetValue(peer, out var entry) ? entry.Connection : null;
        }
    }

    public void Remove(PeerId peer)
    {
        lock (_entries) _entries.Remove(peer);
    }

    private void Prune()
    {
        var now = time.GetUtcNow();
        foreach (var entry in _entries.Values.Where(e => e.Expire <= now || e.Connection.Completion.IsCompleted).ToList())
            _entries.Remove(entry.Peer);
    }

    internal static string IpGroup(IPAddress? ip)
    {
        if (ip is null) return "";
        if (ip.IsIPv4MappedToIPv6) ip = ip.MapToIPv4();
        byte[] bytes = ip.GetAddressBytes();
        return ip.AddressFamily == AddressFamily.InterNetworkV6 ? Convert.ToHexString(bytes, 0, 8) : Convert.ToHexString(bytes);
    }

    private sealed record Entry(PeerId Peer, string IpGroup, DateTimeOffset Expire, IConnection Connection);
}

/// <summary>Open relayed connections: bounded in total and per peer (as source or destination).</summary>
internal sealed class CircuitTable(RelayServiceOptions options)
{
    private readonly Dictionary<PeerId, int> _perPeer = [];
    private int _total;

    public int Count => Volatile.Read(ref _total);

    public IDisposable? TryOpen(PeerId source, PeerId destination)
    {
        lock (_perPeer)
        {
            if (_total >= options.MaxCircuits || _perPeer.GetValueOrDefault(source) >= options.MaxCircuitsPerPeer
                || _perPeer.GetValueOrDefault(destination) >= options.MaxCircuitsPerPeer)
            {
                return null;
            }
            _total++;
            _perPeer[source] = _perPeer.GetValueOrDefault(source) + 1;
            _perPeer[destination] = _perPeer.GetValueOrDefault(destination) + 1;
            return new Slot(this, source, destination);
        }
    }

    private void Close(PeerId source, PeerId destination)
    {
        lock (_perPeer)
        {
            _total--;
            foreach (var peer in new[] { source, destination })
            {
                if (--_perPeer[peer] == 0) _perPeer.Remove(peer);
            }
        }
    }

    private sealed class Slot(CircuitTable table, PeerId source, PeerId destination) : IDisposable
    {
        private int _closed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _closed, 1) == 0) table.Close(source, destination);
        }
    }
}
