using System.Buffers;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using P2PStack.Identity;
using P2PStack.IO;
using P2PStack.Network;
using P2PStack.Protocols.GossipSub.Pb;

namespace P2PStack.Protocols.GossipSub;

public sealed partial class GossipSubService
{
    private const int MaxStreamReopens = 3;
    private readonly Dictionary<PeerId, PeerLink> _links = new();

    /// <summary>Serves an inbound pubsub stream: the peer's RPCs, until it closes. Called by <see cref="GossipSubHandler"/>.</summary>
    public async Task HandleInboundAsync(IStream stream, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var peer = stream.Connection.RemotePeer;
        IStream? replaced;
        lock (_gate)
        {
            if (!_links.TryGetValue(peer, out var link)) _links[peer] = link = new PeerLink(_options.MaxOutboundQueue, _memory);
            replaced = link.Inbound;
            link.Inbound = stream;
            AddToRouter(peer, link, stream.Protocol, stream.Connection);
        }
        replaced?.Reset(); // one inbound stream per peer, the newest wins (as go does)
        EnsureOutboundStream(peer);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _lifetime.Token);
        await using (stream.ConfigureAwait(false))
        {
            try
            {
                await ReadLoopAsync(peer, stream, stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException or InvalidOperationException)
            {
                LogInboundClosed(peer, e.Message);
            }
            finally
            {
                lock (_gate)
                    if (_links.TryGetValue(peer, out var link) && link.Inbound == stream) link.Inbound = null;
            }
        }
    }

    private async Task ReadLoopAsync(PeerId peer, IStream stream, CancellationToken cancellationToken)
    {
        while (true)
        {
            PooledMessage? frame;
            try
            {
                frame = await LengthPrefixed.ReadMessageOrEndAsync(stream.Input, _options.MaxRpcSize, cancellationToken).ConfigureAwait(false);
            }
            catch (P2PFormatException e)
            {
                // Bad framing (oversized or invalid prefix): we cannot resynchronise, so drop the stream.
                LogMalformed(peer, e.Message);
                lock (_gate) _router.ReportMalformedRpc(peer);
                stream.Reset();
                return;
            }
            if (frame is null) return;
            using (frame)
            {
                // The frame and what decodes from it are held while the router handles it: counted in the service's
                // memory, and dropped (not handled) when the resource manager refuses.
                long held = 2L * frame.Memory.Length;
                if (_memory?.TryReserveMemory(held, _options.InboundReservationPriority) == false)
                {
                    DroppedForMemory(peer, "inbound", held);
                    continue;
                }
                try
                {
                    RPC rpc;
                    try
                    {
                        rpc = RpcCodec.Decode(new ReadOnlySequence<byte>(frame.Memory));
                    }
                    catch (PubSubFormatException e)
                    {
                        LogMalformed(peer, e.Message);
                        lock (_gate) _router.ReportMalformedRpc(peer);
                        continue;
                    }
                    lock (_gate) _router.HandleRpc(peer, rpc);
                }
                finally
                {
                    _memory?.ReleaseMemory(held);
                }
            }
        }
    }

    /// <summary>Opens our outbound stream to the peer unless one is open or opening.</summary>
    private void EnsureOutboundStream(PeerId peer)
    {
        if (_lifetime.IsCancellationRequested || peer == LocalPeer) return;
        PeerLink link;
        lock (_gate)
        {
            if (!_links.TryGetValue(peer, out link!)) _links[peer] = link = new PeerLink(_options.MaxOutboundQueue, _memory);
            if (link.Opening || link.Outbound is not null) return;
            link.Opening = true;
        }
        _ = Task.Run(() => OpenOutboundAsync(peer, link));
    }

    private async Task OpenOutboundAsync(PeerId peer, PeerLink link)
    {
        IStream stream;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_lifetime.Token);
            timeout.CancelAfter(_options.ConnectionTimeout);
            stream = await _host.OpenStreamAsync(peer, _options.Protocols, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            if (e is not ProtocolNotSupportedException) LogOpenFailed(peer, e.Message);
            lock (_gate)
            {
                link.Opening = false;
                // A peer that does not speak pubsub (or is gone) is forgotten unless it opened a stream to us.
                if (link.Inbound is null && _links.TryGetValue(peer, out var current) && current == link) RemoveLink(peer);
            }
            return;
        }
        lock (_gate)
        {
            link.Opening = false;
            if (_lifetime.IsCancellationRequested || !_links.TryGetValue(peer, out var current) || current != link)
            {
                stream.Reset();
                return;
            }
            link.Outbound = stream;
            AddToRouter(peer, link, stream.Protocol, stream.Connection);
        }
        await WriteLoopAsync(peer, link, stream).ConfigureAwait(false);
    }

    private async Task WriteLoopAsync(PeerId peer, PeerLink link, IStream stream)
    {
        var reader = link.Queue.Reader;
        using var write = CancellationTokenSource.CreateLinkedTokenSource(_lifetime.Token);
        try
        {
            while (await reader.WaitToReadAsync(_lifetime.Token).ConfigureAwait(false))
            {
                bool more = true;
                while (more)
                {
                    long batch = 0;
                    while (batch < _options.WriteBatchBytes && (more = reader.TryRead(out var queued)))
                    {
                        // Once in the pipe the bytes are the muxer's (its window), no longer the queue's.
                        link.Release(queued);
                        LengthPrefixed.WriteMessage(stream.Output, queued.Rpc);
                        batch += LengthPrefixed.GetEncodedLength(queued.Size);
                    }
                    if (batch == 0) break;
                    // Each flush has a time limit: a peer that stops reading must not hold this loop (and its queue).
                    write.CancelAfter(_options.WriteTimeout);
                    var flush = await stream.Output.FlushAsync(write.Token).ConfigureAwait(false);
                    write.CancelAfter(Timeout.InfiniteTimeSpan);
                    if (flush.IsCompleted || flush.IsCanceled) return;
                }
            }
        }
        catch (OperationCanceledException) when (write.IsCancellationRequested && !_lifetime.IsCancellationRequested)
        {
            LogWriteStalled(peer, _options.WriteTimeout);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogOutboundClosed(peer, e.Message);
        }
        finally
        {
            await EndOutboundAsync(peer, link, stream).ConfigureAwait(false);
        }
    }

    /// <summary>After the write loop: resets the stream, then reopens (a few times) or forgets the peer.</summary>
    private async Task EndOutboundAsync(PeerId peer, PeerLink link, IStream stream)
    {
        stream.Reset();
        bool reopen = false;
        lock (_gate)
        {
            if (link.Outbound == stream) link.Outbound = null;
            if (!_links.TryGetValue(peer, out var current) || current != link) return;
            if (!_lifetime.IsCancellationRequested && _host.GetConnections(peer).Count > 0 && ++link.Reopens <= MaxStreamReopens)
                reopen = true;
            else
                RemoveLink(peer);
        }
        if (reopen)
        {
            try { await Task.Delay(TimeSpan.FromMilliseconds(100 * link.Reopens), _time, _lifetime.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            EnsureOutboundStream(peer);
        }
    }

    private void AddToRouter(PeerId peer, PeerLink link, string protocol, IConnection connection)
    {
        link.InRouter = true;
        var ip = connection.RemoteAddress.GetIPAddress();
        _router.AddPeer(peer, protocol, connection.Direction == Direction.Outbound, ip is null ? [] : [ip]);
    }

    /// <summary>Under _gate: the peer is gone for pubsub.</summary>
    private void RemoveLink(PeerId peer)
    {
        if (!_links.Remove(peer, out var link)) return;
        link.Close();
        if (link.InRouter) _router.RemovePeer(peer);
    }

    private void EnqueueRpc(PeerId peer, RPC rpc)
    {
        if (!_links.TryGetValue(peer, out var link)) return;
        int size = rpc.CalculateSize();
        if (_memory?.TryReserveMemory(size, _options.OutboundReservationPriority) == false)
        {
            DroppedForMemory(peer, "outbound", size);
            return;
        }
        var queued = new QueuedRpc(rpc, size);
        if (link.Queue.Writer.TryWrite(queued)) return;
        _memory?.ReleaseMemory(size);
        _metrics.RpcDropped("outbound", "queue_full");
        LogQueueFull(peer);
    }

    /// <summary>An RPC the resource manager had no memory for: counted, logged once here (the refusal itself is counted
    /// in the service's scope).</summary>
    private void DroppedForMemory(PeerId peer, string direction, long bytes)
    {
        _metrics.RpcDropped(direction, "resource_limit");
        LogMemoryRefused(direction, peer, bytes, _memory!.Name);
    }

    private void OnPeerIdentified(PeerIdentified e)
    {
        // The protocols identify just stored, without reading them back: a peer store read applies its queued writes
        // (a SQLite commit), which would then run on every new connection.
        var protocols = e.Protocols ?? _host.PeerStore.GetProtocols(e.Peer);
        if (protocols.Any(p => _options.Protocols.Contains(p))) EnsureOutboundStream(e.Peer);
    }

    private void OnPeerDisconnected(PeerId peer)
    {
        if (_host.GetConnections(peer).Count > 0) return;
        lock (_gate) RemoveLink(peer);
    }

    private async Task HeartbeatLoopAsync(CancellationToken cancellationToken)
    {
        await Task.Delay(_options.HeartbeatInitialDelay, _time, cancellationToken).ConfigureAwait(false);
        using var timer = new PeriodicTimer(_options.HeartbeatInterval, _time);
        do
        {
            try
            {
                lock (_gate) _router.Heartbeat();
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                LogHeartbeatFailed(e);
            }
        } while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
    }

    /// <summary>An RPC in a peer's queue and its encoded size, reserved in the service's memory until it leaves.</summary>
    private readonly record struct QueuedRpc(RPC Rpc, int Size);

    private sealed class PeerLink(int queueCapacity, IResourceScope? memory)
    {
        // Not SingleReader: Close drains what the write loop left, concurrently with it, so each item is released once.
        public readonly Channel<QueuedRpc> Queue = Channel.CreateBounded<QueuedRpc>(new BoundedChannelOptions(queueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait, // TryWrite fails when full: we drop and log
        });
        public IStream? Outbound;
        public IStream? Inbound;
        public bool Opening;
        public bool InRouter;
        public int Reopens;

        public void Release(in QueuedRpc queued) => memory?.ReleaseMemory(queued.Size);

        public void Close()
        {
            Queue.Writer.TryComplete();
            while (Queue.Reader.TryRead(out var left)) Release(left);
            Outbound?.Reset();
            Inbound?.Reset();
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "malformed pubsub input from {Peer}: {Reason}")]
    private partial void LogMalformed(PeerId peer, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "inbound pubsub stream from {Peer} ended: {Reason}")]
    private partial void LogInboundClosed(PeerId peer, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "outbound pubsub stream to {Peer} reset: a write waited more than {Timeout}")]
    private partial void LogWriteStalled(PeerId peer, TimeSpan timeout);

    [LoggerMessage(Level = LogLevel.Debug, Message = "outbound pubsub stream to {Peer} ended: {Reason}")]
    private partial void LogOutboundClosed(PeerId peer, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "could not open a pubsub stream to {Peer}: {Reason}")]
    private partial void LogOpenFailed(PeerId peer, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "outbound queue to {Peer} is full; dropping an RPC")]
    private partial void LogQueueFull(PeerId peer);

    [LoggerMessage(Level = LogLevel.Debug, Message = "dropped an {Direction} RPC of {Peer} ({Bytes} bytes): {Scope} has no memory left")]
    private partial void LogMemoryRefused(string direction, PeerId peer, long bytes, string scope);

    [LoggerMessage(Level = LogLevel.Error, Message = "gossipsub heartbeat failed")]
    private partial void LogHeartbeatFailed(Exception exception);
}
