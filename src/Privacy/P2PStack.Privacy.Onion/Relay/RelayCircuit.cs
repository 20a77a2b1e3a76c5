using System.Buffers;
using Microsoft.Extensions.Logging;
using P2PStack.Identity;
using P2PStack.Privacy.Onion.Crypto;
using P2PStack.Privacy.Onion.Wire;

namespace P2PStack.Privacy.Onion.Relay;

/// <summary>Which neighbour of a relay something came from.</summary>
internal enum Side
{
    None,
    Previous,
    Next,
}

/// <summary>A neighbour destroyed the circuit, or this hop ends it for a reason.</summary>
internal sealed class CircuitEndedException(DestroyReason reason, Side side, string message) : Exception(message)
{
    public DestroyReason Reason { get; } = reason;

    public Side Side { get; } = side;
}

/// <summary>
/// One circuit at one relay: the link from the previous hop, after EXTEND the link to the next, this hop's two layers,
/// and, when this hop is the last, the streams it opened as an exit. The forward loop reads the previous link and
/// forwards (or handles) cells; the backward loop reads the next link and adds this hop's layer on the way back. Each
/// link has a write lock; the layer of a direction is only used under the lock of the link its cells go to, so the
/// counter order is the wire order. Whatever ends the circuit ends it once (<see cref="EndAsync"/>): DESTROY to the
/// neighbours that did not send one, links closed, streams reset.
/// Parts: forward and backward loops (here), extension (<c>RelayCircuit.Extend.cs</c>), exit streams and flow
/// control (<c>RelayCircuit.Exit.cs</c>).
/// </summary>
internal sealed partial class RelayCircuit
{
    private readonly OnionRelay _relay;
    private readonly ILogger _logger;
    private readonly CellLink _prev;
    private readonly CellLayout _layout;
    private readonly PeerId _prevPeer;
    private readonly CancellationTokenSource _lifetime = new();
    private readonly RelayMessageAssembler _assembler;
    private readonly List<Task> _owned = [];
    private readonly TaskCompletionSource _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly byte[] _lastTagIn = new byte[LayerCipher.TagSize];
    private CellLink? _next;
    private LayerCipher? _forward;
    private LayerCipher? _backward;
    private int _relayEarly;
    private int _ending;
    private bool _extendEarly = true;

    public RelayCircuit(OnionRelay relay, CellLink previous)
    {
        _relay = relay;
        _logger = relay.Logger;
        _prev = previous;
        _layout = previous.Layout;
        _prevPeer = previous.Stream.Connection.RemotePeer;
        _assembler = new RelayMessageAssembler(relay.Options.MaxRelayMessageSize);
        var flow = relay.Options.FlowControl;
        _packageWindow = new FlowWindow(flow.CircuitWindow);
        _deliverWindow = new DeliveryWindow(flow.CircuitWindow, flow.CircuitSendmeIncrement);
    }

    private OnionOptions Options => _relay.Options;

    /// <summary>The link to the previous hop.</summary>
    internal CellLink Previous => _prev;

    /// <summary>The link to the next hop, once extended.</summary>
    internal CellLink? Next => Volatile.Read(ref _next);

    /// <summary>Runs the circuit until it ends; returns once every part of it has stopped.</summary>
    public async Task RunAsync(CancellationToken handlerToken)
    {
        using var stop = handlerToken.Register(() => _ = EndAsync(DestroyReason.Hibernating, Side.None));
        var token = _lifetime.Token;
        try
        {
            await HandshakeAsync(token).ConfigureAwait(false);
            _relay.Observer?.CircuitOpened(this, _prevPeer);
            if (_relay.Cover is { } cover)
            {
                _coverSeen = _prev.CellsWritten;
                RunOwned(t => cover.RunAsync(_relay.Time, SendCoverIfIdleAsync, t));
            }
            var (reason, from) = await ForwardLoopAsync(token).ConfigureAwait(false);
            await EndAsync(reason, from).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            await FailAsync(e, Side.Previous).ConfigureAwait(false);
        }
        finally
        {
            // The end under way (perhaps started by another part) finishes first: the handler's return closes the
            // link, and a DESTROY not yet written would be lost (the previous hop saw a closed link instead).
            await _ended.Task.ConfigureAwait(false);
            Task[] owned;
            lock (_owned) owned = [.. _owned];
            await Task.WhenAll(owned).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            _forward?.Dispose();
            _backward?.Dispose();
        }
    }

    /// <summary>Ends the circuit from outside (the relay stops).</summary>
    public Task DestroyAsync(DestroyReason reason) => EndAsync(reason, Side.None);

    // CREATE cells from the previous hop, the key agreement, CREATED back.
    private async Task HandshakeAsync(CancellationToken token)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
        timeout.CancelAfter(Options.Relay.ExtendTimeout);
        var assembler = new HandshakeAssembler(_layout, CellCommand.Create, 4096);
        var cell = new byte[_layout.CellSize];
        byte[]? create = null;
        while (create is null)
        {
            if (!await _prev.ReadCellAsync(cell, timeout.Token).ConfigureAwait(false))
                throw new CircuitEndedException(DestroyReason.LinkClosed, Side.Previous, "the previous hop left before CREATE");
            switch ((CellCommand)cell[0])
            {
                case CellCommand.Padding:
                    _relay.Metrics.CoverDropped();
                    continue;
                case CellCommand.Create:
                    create = assembler.Add(cell.AsSpan(1));
                    break;
                case CellCommand.Destroy:
                    throw new CircuitEndedException((DestroyReason)cell[1], Side.Previous, "destroyed before CREATE");
                default:
                    throw new OnionFormatException($"{(CellCommand)cell[0]} cell before CREATE");
            }
        }
        byte[] created;
        HopKeys keys;
        try
        {
            created = OnionHandshake.Respond(create, _relay.Keys, _relay.Host.PeerId.Bytes.Span, _relay.Ephemerals.Take(), out keys);
        }
        catch (OnionHandshakeException e)
        {
            throw new CircuitEndedException(DestroyReason.UnknownOnionKey, Side.None, e.Message);
        }
        (_forward, _backward) = keys.CreateLayers(client: false);
        await _prev.LockAsync(token).ConfigureAwait(false);
        try
        {
            int cells = _layout.HandshakeCells(created.Length);
            for (int i = 0; i < cells; i++)
            {
                CellCodec.WriteHandshake(_prev.Begin(), _layout, CellCommand.Created, created, i);
                _prev.Commit();
            }
            await _prev.FlushAsync(token).ConfigureAwait(false);
        }
        finally
        {
            _prev.Unlock();
            _relay.Ephemerals.Refill(); // once CREATED is on its way, not before
        }
    }

    /// <summary>Reads the previous link until the circuit's normal end, which it returns without an exception (a thrown
    /// exception per closed circuit, rethrown by every await above it, was a measurable share of a relay's CPU): a
    /// DESTROY from the previous hop, the link's end, or an end already under way (<see cref="EndOnceAsync"/> cancels
    /// the pending read). Anything else throws. The cells of a read are taken in runs by synchronous code
    /// (<see cref="RelayCells"/> at a middle hop, <see cref="DeliverCells"/> at the last): this loop only awaits the
    /// next link's lock and flushes, and the handling of a cell for this hop other than DATA.</summary>
    private async Task<(DestroyReason Reason, Side From)> ForwardLoopAsync(CancellationToken token)
    {
        var cell = new byte[_layout.CellSize];
        var split = new byte[_layout.CellSize];
        int maxBatch = Options.Relay.CellsPerRead;
        // After the handshake (its key agreement stays off the muxer's read loop): from here on, per batch, this loop
        // does a few microseconds of work per cell and never blocks.
        if (_relay.ReadsLinksOnMuxerLoop) _prev.Stream.TryReadInline();
        while (true)
        {
            // Not the lifetime's token: the end cancels this read with CancelPendingRead (sticky, so an end before the
            // read is seen too), and a token cancelled as well would make the pipe throw instead.
            if (_prev.IsClosed) return (DestroyReason.Finished, Side.None); // the end under way closed it: nothing to read
            var result = await _prev.ReadAsync(CancellationToken.None).ConfigureAwait(false);
            if (result.IsCanceled) return (DestroyReason.Finished, Side.None); // the end under way cancelled the read
            var run = new CellRun(result.Buffer, _layout.CellSize, maxBatch);
            CellLink? locked = null;
            try
            {
                while (run.Left > 0)
                {
                    RunStop stop;
                    if (Volatile.Read(ref _next) is { } next)
                    {
                        // A middle hop: cells are copied once, into the next link's buffer, and this hop's layer
                        // transforms them there; only a cell meant for this hop (rare: a DROP, a misdirected one) is
                        // copied out again, and its place in the link is left uncommitted.
                        if (locked is null)
                        {
                            await next.LockAsync(token).ConfigureAwait(false);
                            locked = next;
                        }
                        if (next.FlushDue) await FlushNextAsync(next, token).ConfigureAwait(false);
                        stop = RelayCells(ref run, next, _forward!, forward: true, split, cell);
                    }
                    else
                    {
                        stop = DeliverCells(ref run, split, cell);
                    }
                    if (stop == RunStop.Destroy) break;
                    if (stop != RunStop.Local) continue;
                    if (locked is not null)
                    {
                        var flushing = locked;
                        locked = null;
                        try
                        {
                            await FlushNextAsync(flushing, token).ConfigureAwait(false);
                        }
                        finally
                        {
                            flushing.Unlock();
                        }
                    }
                    await HandleLocalAsync(run.LocalEarly, cell, token).ConfigureAwait(false);
                }
                // More whole cells readable at once: they join these in the next flush (at most the link's cells per
                // flush), so that the batch's writes do not get smaller.
                bool more = run.Destroyed is null && run.Processed == maxBatch && run.Buffer.Length >= _layout.CellSize;
                if (locked is not null && !more) await FlushNextAsync(locked, token).ConfigureAwait(false);
            }
            finally
            {
                locked?.Unlock();
            }
            _relay.Metrics.Relayed(forward: true, run.Relayed);
            var buffer = run.Buffer;
            if (run.Destroyed is { } reason)
            {
                _prev.AdvanceTo(buffer.Start);
                return (reason, Side.Previous);
            }
            await FlushStreamsAsync(token).ConfigureAwait(false);
            if (run.Processed == maxBatch && buffer.Length >= _layout.CellSize) _prev.AdvanceTo(buffer.Start);
            else _prev.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted)
            {
                if (buffer.Length > 0 && buffer.Length < _layout.CellSize) throw new OnionFormatException("the link ended inside a cell");
                if (buffer.Length < _layout.CellSize) return (DestroyReason.LinkClosed, Side.Previous);
            }
        }
    }

    private static async Task FlushNextAsync(CellLink next, CancellationToken token)
    {
        try
        {
            var flushed = await next.FlushAsync(token).ConfigureAwait(false);
            if (flushed.IsCompleted) throw new CircuitEndedException(DestroyReason.LinkClosed, Side.Next, "the next hop left");
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            throw new CircuitEndedException(DestroyReason.LinkClosed, Side.Next, $"the next link failed: {e.Message}");
        }
    }

    // A relay cell this hop recognised.
    private async Task HandleLocalAsync(bool early, byte[] cell, CancellationToken token)
    {
        var header = CellCodec.ReadRelayHeader(cell.AsSpan(1));
        _relay.Observer?.Cell(this, true, header.Command, cell.AsSpan(1));
        if (header.Command == RelayCommand.Drop)
        {
            _relay.Metrics.CoverDropped();
            return;
        }
        if (Volatile.Read(ref _next) is not null) throw new OnionFormatException($"{header.Command} for a hop that is not the last");
        if (header.Command == RelayCommand.Data)
        {
            if (header.More || _assembler.InProgress) throw new OnionFormatException("DATA cannot span cells");
            OnData(header.StreamId, cell.AsSpan(1 + LayerCipher.TagSize + CellLayout.RelayHeaderSize, header.Length));
            return;
        }
        if (header.Command == RelayCommand.Extend && !early) _extendEarly = false;
        var message = _assembler.Add(header, CellCodec.RelayData(cell.AsSpan(1), header));
        if (message is null) return;
        switch (header.Command)
        {
            case RelayCommand.Extend:
                bool wasEarly = _extendEarly;
                _extendEarly = true;
                if (!wasEarly) throw new OnionFormatException("EXTEND outside RELAY_EARLY cells");
                StartExtend(message);
                break;
            case RelayCommand.Begin:
                if (_introKey is not null) throw new OnionFormatException("BEGIN on a service circuit");
                StartStream(header.StreamId, message);
                break;
            case RelayCommand.EstablishIntro:
                await OnEstablishIntroAsync(header.StreamId, message, token).ConfigureAwait(false);
                break;
            case RelayCommand.Introduce:
                StartIntroduction(header.StreamId, message);
                break;
            case RelayCommand.End:
                OnEnd(header.StreamId, message);
                break;
            case RelayCommand.Sendme:
                OnSendme(header.StreamId, message);
                break;
            default:
                throw new OnionFormatException($"{header.Command} does not travel towards the exit");
        }
    }

    private async Task BackwardLoopAsync(CellLink next, CancellationToken token)
    {
        var split = new byte[_layout.CellSize];
        int maxBatch = Options.Relay.CellsPerRead;
        if (_relay.ReadsLinksOnMuxerLoop) next.Stream.TryReadInline();
        try
        {
            while (true)
            {
                // As in the forward loop: the end cancels this read (CancelPendingRead), not the token.
                if (next.IsClosed) return; // the end under way closed it while this loop handled the last batch
                var result = await next.ReadAsync(CancellationToken.None).ConfigureAwait(false);
                if (result.IsCanceled) return; // the end under way cancelled the read: nothing thrown on a normal close
                var run = new CellRun(result.Buffer, _layout.CellSize, maxBatch);
                bool locked = false;
                try
                {
                    while (run.Left > 0)
                    {
                        if (!locked)
                        {
                            await _prev.LockAsync(token).ConfigureAwait(false);
                            locked = true;
                        }
                        if (_prev.FlushDue) await _prev.FlushAsync(token).ConfigureAwait(false);
                        // Copied once, into the previous link's buffer, and this hop's layer added there.
                        if (RelayCells(ref run, _prev, _backward!, forward: false, split, split) == RunStop.Destroy) break;
                    }
                    bool more = run.Destroyed is null && run.Processed == maxBatch && run.Buffer.Length >= _layout.CellSize; // as forward
                    if (locked && !more) await _prev.FlushAsync(token).ConfigureAwait(false);
                }
                finally
                {
                    if (locked) _prev.Unlock();
                }
                _relay.Metrics.Relayed(forward: false, run.Relayed);
                var buffer = run.Buffer;
                if (run.Destroyed is { } reason)
                {
                    next.AdvanceTo(buffer.Start);
                    await EndAsync(reason, Side.Next).ConfigureAwait(false);
                    return;
                }
                if (run.Processed == maxBatch && buffer.Length >= _layout.CellSize) next.AdvanceTo(buffer.Start);
                else next.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted && buffer.Length < _layout.CellSize)
                {
                    if (buffer.Length > 0) throw new OnionFormatException("the next link ended inside a cell");
                    throw new CircuitEndedException(DestroyReason.LinkClosed, Side.Next, "the next hop left");
                }
            }
        }
        catch (Exception e)
        {
            await FailAsync(e, Side.Next).ConfigureAwait(false);
        }
    }

    /// <summary>Sends one relay message back towards the client (fragmented over cells), under the previous link's lock.</summary>
    internal async Task SendBackwardAsync(RelayCommand command, ushort streamId, ReadOnlyMemory<byte> data, CancellationToken token)
    {
        await _prev.LockAsync(token).ConfigureAwait(false);
        try
        {
            int capacity = _layout.RelayDataCapacity;
            int cells = _layout.RelayCells(data.Length);
            for (int i = 0; i < cells; i++)
            {
                if (_prev.FlushDue) await _prev.FlushAsync(token).ConfigureAwait(false);
                var chunk = data.Slice(i * capacity, Math.Min(capacity, data.Length - i * capacity)).Span;
                var span = _prev.Begin();
                span[0] = (byte)CellCommand.Relay;
                CellCodec.WriteRelayPlaintext(span[1..], command, streamId, chunk, more: i < cells - 1);
                _backward!.Encrypt(span[1..]);
                _prev.Commit();
            }
            await _prev.FlushAsync(token).ConfigureAwait(false);
        }
        finally
        {
            _prev.Unlock();
        }
    }

    private long _coverSeen;

    // At an event of the relay's cover process: while this hop is the circuit's last, one DROP cell back to the client
    // if nothing was written towards it since the previous event. It crosses every link of the circuit on the way
    // back, and no hop before the client can tell it from data (docs/specs/onion.md, section 8a).
    private async ValueTask SendCoverIfIdleAsync(CancellationToken token)
    {
        if (Volatile.Read(ref _next) is not null) return;
        try
        {
            await _prev.LockAsync(token).ConfigureAwait(false);
            try
            {
                if (Volatile.Read(ref _ending) != 0 || _prev.IsClosed || Volatile.Read(ref _next) is not null) return;
                if (_prev.CellsWritten == _coverSeen)
                {
                    var span = _prev.Begin();
                    span[0] = (byte)CellCommand.Relay;
                    CellCodec.WriteRelayPlaintext(span[1..], RelayCommand.Drop, 0, ReadOnlySpan<byte>.Empty, more: false);
                    _backward!.Encrypt(span[1..]);
                    _prev.Commit();
                    await _prev.FlushAsync(token).ConfigureAwait(false);
                    _relay.Metrics.CoverSent();
                }
                _coverSeen = _prev.CellsWritten;
            }
            finally
            {
                _prev.Unlock();
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
            // The link is gone; the forward loop ends the circuit.
        }
        catch (Exception e)
        {
            await FailAsync(e).ConfigureAwait(false);
        }
    }

    /// <summary>Ends the circuit once: DESTROY to the neighbours that did not send it, links closed, streams reset.</summary>
    private async Task EndAsync(DestroyReason reason, Side from)
    {
        if (Interlocked.Exchange(ref _ending, 1) != 0) return;
        try
        {
            // Called on a socket's event thread (the relay as an event loop, whose loop read a DESTROY or the link's
            // end there), the end's work (DESTROY onwards, the links' closes, the streams' resets, the handler's
            // return) would hold up every later frame of that connection, the next circuit's CREATE or EXTEND among
            // them: it runs on the thread pool instead, the connection's next frames on the event thread meanwhile.
            if (!Thread.CurrentThread.IsThreadPoolThread) await Task.Yield();
            await EndOnceAsync(reason, from).ConfigureAwait(false);
        }
        finally
        {
            _ended.TrySetResult();
        }
    }

    private async Task EndOnceAsync(DestroyReason reason, Side from)
    {
        if (from != Side.None) _relay.Metrics.Destroy(reason, sent: false);
        if (reason is DestroyReason.Integrity or DestroyReason.Protocol) _relay.Metrics.Refused(OnionMetrics.Label(reason));
        LogEnded(OnionMetrics.Label(reason));
        ReleaseIntroduction();
        // The loops' pending reads end without an exception (the token's cancellation below would throw one in each).
        _prev.CancelPendingRead();
        Volatile.Read(ref _next)?.CancelPendingRead();
        await _lifetime.CancelAsync().ConfigureAwait(false);
        _packageWindow.Fail();
        AbortStreams();
        using var budget = new CancellationTokenSource(_relay.Options.TeardownTimeout);
        var next = Volatile.Read(ref _next);
        var sends = new List<Task>();
        if (from != Side.Previous)
        {
            _relay.Metrics.Destroy(reason, sent: true);
            sends.Add(_prev.SendControlAsync(CellCommand.Destroy, reason, budget.Token));
        }
        if (next is not null && from != Side.Next)
        {
            _relay.Metrics.Destroy(reason, sent: true);
            sends.Add(next.SendControlAsync(CellCommand.Destroy, reason, budget.Token));
        }
        await Task.WhenAll(sends).ConfigureAwait(false);
        await _prev.CloseAsync(abort: from == Side.Previous, Options.TeardownTimeout).ConfigureAwait(false);
        if (next is not null) await next.CloseAsync(abort: from == Side.Next, Options.TeardownTimeout).ConfigureAwait(false);
    }

    /// <summary>Ends the circuit for <paramref name="e"/>, which a part of it failed with. An exception of no documented
    /// kind (among them any <see cref="InvalidOperationException"/>: a closed link says so with a
    /// <see cref="LinkClosedException"/>) is a bug: the circuit ends with DESTROY <c>internal</c> both ways, the first
    /// such exception of the circuit logged and counted (<c>p2pstack_onion_relay_refused_total{reason="internal"}</c>).</summary>
    /// <param name="linkSide">The link a failed read or write belongs to.</param>
    internal async Task FailAsync(Exception e, Side linkSide = Side.None)
    {
        _relay.CircuitFailure?.Invoke(e);
        var (reason, side) = Classify(e, linkSide);
        if (reason == DestroyReason.Internal && Interlocked.Exchange(ref _failed, 1) == 0)
        {
            _relay.Metrics.Refused(OnionMetrics.Label(DestroyReason.Internal));
            LogFailed(e);
        }
        await EndAsync(reason, side).ConfigureAwait(false);
    }

    private int _failed;

    /// <param name="linkSide">The link a failed read or write belongs to.</param>
    private static (DestroyReason Reason, Side Side) Classify(Exception e, Side linkSide) => e switch
    {
        CircuitEndedException ended => (ended.Reason, ended.Side),
        OnionFormatException => (DestroyReason.Protocol, Side.None),
        OperationCanceledException => (DestroyReason.Finished, Side.None),
        IOException or ObjectDisposedException => (DestroyReason.LinkClosed, linkSide),
        _ => (DestroyReason.Internal, Side.None),
    };

    // Work of this circuit owned by the host (stopped with it) and awaited before the layers are disposed.
    private void RunOwned(Func<CancellationToken, Task> work)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_owned) _owned.Add(done.Task);
        _relay.Host.RunInBackground(async hostToken =>
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(hostToken, _lifetime.Token);
            try
            {
                await work(linked.Token).ConfigureAwait(false);
            }
            finally
            {
                done.TrySetResult();
            }
        });
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Relay circuit ended: {Reason}")]
    private partial void LogEnded(string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Relay circuit failed on an internal error; ended with DESTROY internal")]
    private partial void LogFailed(Exception error);
}
