using P2PStack.Identity;
using P2PStack.IO;
using P2PStack.Network;

namespace P2PStack.Neural;

/// <summary>
/// The bounded, priority-ordered queue of one destination peer and the pump that writes it, in scheduler order, to a
/// long-lived <c>/synaptic/neural/1.0.0</c> stream. Senders wait for room (backpressure); expired messages are
/// dropped when their turn comes. The mesh retires the queue when it has been idle.
/// </summary>
internal sealed class PeerSendQueue
{
    private readonly NeuralMesh _mesh;
    private readonly Lock _gate = new();
    private readonly StrideScheduler<OutboundItem> _items = new();
    private readonly SemaphoreSlim _space;
    private readonly SemaphoreSlim _available = new(0);
    private readonly CancellationTokenSource _closing;
    private IStream? _stream;
    private bool _closed;

    public PeerSendQueue(NeuralMesh mesh, PeerId peer, int capacity, CancellationToken lifetime)
    {
        _mesh = mesh;
        Peer = peer;
        _space = new SemaphoreSlim(capacity, capacity);
        _closing = CancellationTokenSource.CreateLinkedTokenSource(lifetime);
        Pump = Task.Run(PumpAsync);
    }

    public PeerId Peer { get; }

    public Task Pump { get; }

    /// <summary>Writers between taking this queue from the mesh and enqueueing (guarded by the mesh's lock).</summary>
    public int PendingWriters { get; set; }

    public int Depth
    {
        get { lock (_gate) return _items.Count; }
    }

    /// <summary>Adds the item; when full, waits for room if <paramref name="wait"/>, else returns false. The frame's
    /// bytes are reserved in the mesh's resource scope until the pump takes the item or the queue closes.</summary>
    /// <exception cref="ResourceLimitExceededException">The resource manager has no memory for the frame.</exception>
    public async ValueTask<bool> EnqueueAsync(OutboundItem item, bool wait, CancellationToken cancellationToken)
    {
        if (wait)
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _closing.Token);
            await _space.WaitAsync(linked.Token).ConfigureAwait(false);
        }
        else if (!_space.Wait(0))
        {
            return false;
        }
        try
        {
            _mesh.Memory?.ReserveMemory(item.Frame.Length, _mesh.Options.SendQueueReservationPriority);
        }
        catch (ResourceLimitExceededException)
        {
            _space.Release();
            throw;
        }
        lock (_gate)
        {
            if (_closed)
            {
                _mesh.Memory?.ReleaseMemory(item.Frame.Length);
                _space.Release();
                throw new ObjectDisposedException(nameof(NeuralMesh), "the neural mesh is shutting down");
            }
            _items.Enqueue(item, item.Priority);
        }
        _available.Release();
        return true;
    }

    /// <summary>Marks the queue closed if it is empty (called under the mesh's lock); true when closed.</summary>
    public bool TryRetire()
    {
        lock (_gate)
        {
            if (_items.Count > 0 || PendingWriters > 0) return false;
            _closed = true;
            return true;
        }
    }

    /// <summary>Stops the pump and fails what is still queued.</summary>
    public async Task CloseAsync()
    {
        List<OutboundItem> left;
        lock (_gate)
        {
            _closed = true;
            left = _items.Drain();
        }
        await _closing.CancelAsync().ConfigureAwait(false);
        foreach (var item in left) _mesh.Memory?.ReleaseMemory(item.Frame.Length);
        foreach (var item in left) item.Sent.TrySetException(new ObjectDisposedException(nameof(NeuralMesh), "the neural mesh shut down"));
        await Pump.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private async Task PumpAsync()
    {
        var token = _closing.Token;
        try
        {
            while (!token.IsCancellationRequested)
            {
                if (!await _available.WaitAsync(_mesh.Options.PeerQueueIdleTimeout, token).ConfigureAwait(false))
                {
                    if (_mesh.TryRetireQueue(this)) break;
                    continue;
                }
                OutboundItem item;
                lock (_gate)
                {
                    if (!_items.TryDequeue(out item)) continue;
                }
                // Out of the queue the frame is this pump's one write in flight (bounded by one per peer).
                _mesh.Memory?.ReleaseMemory(item.Frame.Length);
                _space.Release();
                await SendAsync(item, token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
        finally
        {
            if (_stream is { } stream) await stream.DisposeAsync().ConfigureAwait(false);
            _stream = null;
        }
    }

    private async Task SendAsync(OutboundItem item, CancellationToken token)
    {
        if (_mesh.Now >= item.ExpiresAt)
        {
            _mesh.Metrics.Dropped(item.Type, DropReason.Expired);
            item.Sent.TrySetException(new TimeoutException("the message expired in the send queue"));
            return;
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
        timeout.CancelAfter(_mesh.Options.SendTimeout);
        try
        {
            await WriteAsync(item, timeout.Token).ConfigureAwait(false);
            _mesh.Metrics.Sent(item.Type);
            item.Sent.TrySetResult();
        }
        catch (Exception e) when (!token.IsCancellationRequested)
        {
            await ResetStreamAsync().ConfigureAwait(false);
            _mesh.Metrics.Dropped(item.Type, DropReason.SendFailed);
            _mesh.LogSendFailed(Peer, e.Message);
            item.Sent.TrySetException(e is OperationCanceledException ? new TimeoutException($"sending to {Peer} timed out", e) : e);
        }
    }

    private async Task WriteAsync(OutboundItem item, CancellationToken cancellationToken)
    {
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                _stream ??= await _mesh.OpenStreamAsync(Peer, item.ExistingConnectionOnly, cancellationToken).ConfigureAwait(false);
                LengthPrefixed.WriteMessage(_stream.Output, item.Frame);
                var flush = await _stream.Output.FlushAsync(cancellationToken).ConfigureAwait(false);
                if (flush.IsCompleted || flush.IsCanceled) throw new IOException($"the neural stream to {Peer} was closed");
                return;
            }
            catch (Exception e) when (attempt == 0 && _stream is not null && e is IOException or InvalidOperationException or ObjectDisposedException)
            {
                // The long-lived stream died (peer restarted, connection trimmed): one retry on a fresh stream.
                await ResetStreamAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task ResetStreamAsync()
    {
        var stream = _stream;
        _stream = null;
        if (stream is null) return;
        stream.Reset();
        await stream.DisposeAsync().ConfigureAwait(false);
    }
}
