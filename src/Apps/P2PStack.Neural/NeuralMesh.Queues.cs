using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Neural;

public sealed partial class NeuralMesh
{
    private long TotalQueued
    {
        get
        {
            lock (_queuesGate) return _queues.Values.Sum(q => (long)q.Depth);
        }
    }

    /// <summary>Messages waiting in the send queue of <paramref name="peer"/>.</summary>
    public int QueueDepth(PeerId peer)
    {
        lock (_queuesGate) return _queues.TryGetValue(peer, out var queue) ? queue.Depth : 0;
    }

    private PeerSendQueue AcquireQueue(PeerId peer)
    {
        lock (_queuesGate)
        {
            ObjectDisposedException.ThrowIf(_lifetime.IsCancellationRequested, this);
            if (!_queues.TryGetValue(peer, out var queue))
                _queues[peer] = queue = new PeerSendQueue(this, peer, Options.PeerQueueCapacity, _lifetime.Token);
            queue.PendingWriters++;
            return queue;
        }
    }

    private void ReleaseQueue(PeerSendQueue queue)
    {
        lock (_queuesGate) queue.PendingWriters--;
    }

    internal bool TryRetireQueue(PeerSendQueue queue)
    {
        lock (_queuesGate)
        {
            if (!queue.TryRetire()) return false;
            if (_queues.TryGetValue(queue.Peer, out var current) && current == queue) _queues.Remove(queue.Peer);
            return true;
        }
    }

    /// <summary>Opens a stream to <paramref name="peer"/>. With <paramref name="existingConnectionOnly"/> only over a
    /// connection that is already there; otherwise dialing when needed (finding the peer's addresses in the DHT if
    /// nobody knows them), which only this node's own sends may do.</summary>
    /// <exception cref="IOException">No connection to the peer while <paramref name="existingConnectionOnly"/>.</exception>
    internal async Task<IStream> OpenStreamAsync(PeerId peer, bool existingConnectionOnly, CancellationToken cancellationToken)
    {
        if (existingConnectionOnly)
        {
            var connection = _host.GetConnections(peer).FirstOrDefault()
                ?? throw new IOException($"no connection to {peer} (this message is never sent over a new one)");
            return await connection.OpenStreamAsync([NeuralProtocol.ProtocolId], cancellationToken).ConfigureAwait(false);
        }
        if (_host.GetConnections(peer).Count == 0 && _host.PeerStore.GetAddresses(peer).Count == 0 && _dht is { } dht)
        {
            var info = await dht.FindPeerAsync(peer, cancellationToken).ConfigureAwait(false);
            _host.PeerStore.AddAddresses(peer, info.Addresses, Options.AgentCacheTtl);
        }
        return await _host.OpenStreamAsync(peer, [NeuralProtocol.ProtocolId], cancellationToken).ConfigureAwait(false);
    }
}
