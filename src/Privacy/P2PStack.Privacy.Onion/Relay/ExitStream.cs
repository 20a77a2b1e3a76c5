using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.ExceptionServices;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Privacy.Onion.Wire;

namespace P2PStack.Privacy.Onion.Relay;

/// <summary>
/// A stream an exit opened to a destination for a circuit. Data from the client is queued in a pipe (bounded by the
/// stream window, so it never blocks the circuit) and written to the destination by one pump, which returns a stream
/// SENDME for each increment of cells the destination took; data from the destination is cut into DATA cells by
/// another pump as the stream and circuit windows allow. DATA that arrives before the destination stream is open
/// (optimistic data) waits in the same pipe. At an introduction point the "destination" is the other half of a
/// splice (<see cref="SplicedPair"/>): the client's stream and the service's stream are two exit streams joined.
/// </summary>
internal sealed class ExitStream
{
    private readonly RelayCircuit _circuit;
    private readonly PeerId? _destination;
    // The pump to the destination runs inline on the thread that flushes DATA into this pipe (the circuit's forward
    // loop, at the end of each read batch) up to its first wait, so delivered data goes on to the destination's stream
    // without a hand-off through the thread pool per batch, while it is still in cache; a destination that does not
    // take it makes the pump wait, never the forward loop (the pipe does not pause its writer; the stream window bounds it).
    private readonly Pipe _toDestination = new(new PipeOptions(readerScheduler: PipeScheduler.Inline, pauseWriterThreshold: 0,
        resumeWriterThreshold: 0, useSynchronizationContext: false));
    private readonly DeliveryWindow _deliver; // used under _gate only
    private readonly CancellationTokenSource _abort = new();
    private readonly Lock _gate = new();
    private IExitEnd? _stream;
    private int _finished;
    private long _queued; // bytes delivered into the pipe that the destination did not take yet (under _gate)
    private bool _released; // the stream ended and gave its queued bytes back to the circuit (under _gate)

    public ExitStream(RelayCircuit circuit, ushort id, PeerId? destination, FlowControlOptions flow)
    {
        _circuit = circuit;
        Id = id;
        _destination = destination;
        PackageWindow = new FlowWindow(flow.StreamWindow);
        _deliver = new DeliveryWindow(flow.StreamWindow, flow.StreamSendmeIncrement, synchronized: false); // under _gate
    }

    public ushort Id { get; }

    public FlowWindow PackageWindow { get; }

    /// <summary>Queues DATA from the client for the destination.</summary>
    public Delivery Deliver(ReadOnlySpan<byte> data)
    {
        lock (_gate)
        {
            if (_released) return Delivery.Dropped;
            if (!_deliver.Received(data.Length)) return Delivery.Overrun;
            if (Volatile.Read(ref _finished) != 0) return Delivery.Dropped;
            _toDestination.Writer.Write(data);
            _queued += data.Length;
            return Delivery.Queued;
        }
    }

    public async ValueTask FlushDeliveredAsync()
    {
        if (Volatile.Read(ref _finished) != 0) return;
        try
        {
            await _toDestination.Writer.FlushAsync().ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            // completed meanwhile
        }
    }

    /// <summary>The client finished writing (END with reason done).</summary>
    public void RemoteFinished()
    {
        lock (_gate)
        {
            if (Interlocked.Exchange(ref _finished, 1) == 0) _toDestination.Writer.Complete();
        }
    }

    public void Abort()
    {
        Interlocked.Exchange(ref _finished, 1);
        _abort.Cancel();
        _stream?.Reset();
    }

    /// <summary>Opens the stream to the destination, says so with CONNECTED, and moves data until either side ends.</summary>
    public Task RunAsync(IReadOnlyList<Multiaddr> addresses, CancellationToken circuitToken)
    {
        var relay = _circuit.Relay;
        var options = _circuit.RelayOptions;
        return RunAsync(async token =>
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(token);
            timeout.CancelAfter(options.Relay.ConnectTimeout);
            var stream = await PeerConnector.OpenStreamAsync(relay.Host, _destination!, addresses, options.Relay.AllowPrivateAddresses,
                options.DestinationProtocolId, timeout.Token).ConfigureAwait(false);
            stream = relay.DestinationInterceptor?.Invoke(stream) ?? stream;
            // A relay run as an event loop reads the destination's stream on its muxer's read loop too, as it does its
            // links: what the destination sends (at least the end-to-end muxer's window updates during an upload) goes
            // into DATA cells towards the client on the thread that read it. On the thread pool, each such batch woke a
            // worker, which then spun before it slept: the exit's context switches per MiB were twice the middle's
            // (docs/benchmarks.md, "Onion loopback, fifteenth pass"). The pump does a few microseconds of work per cell
            // and only awaits (windows, the link's lock and flush), never blocks.
            if (relay.ReadsLinksOnMuxerLoop) stream.TryReadInline();
            return new StreamEnd(stream);
        }, RelayCommand.Connected, circuitToken);
    }

    /// <summary>Runs the stream over an end that is already open (one half of an introduction's splice), announcing it
    /// with <paramref name="opened"/>: CONNECTED to a client, INTRODUCED to a service.</summary>
    public Task RunSplicedAsync(IExitEnd end, RelayCommand opened, CancellationToken circuitToken) =>
        RunAsync(_ => Task.FromResult(end), opened, circuitToken);

    private async Task RunAsync(Func<CancellationToken, Task<IExitEnd>> open, RelayCommand opened, CancellationToken circuitToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(circuitToken, _abort.Token);
        var token = linked.Token;
        var relay = _circuit.Relay;
        try
        {
            try
            {
                _stream = await open(token).ConfigureAwait(false);
            }
            catch (Exception e) when (!token.IsCancellationRequested)
            {
                relay.Metrics.ExitStream("failed");
                _ = e;
                await _circuit.SendBackwardAsync(RelayCommand.End, Id, new[] { (byte)EndReason.ConnectFailed }, circuitToken).ConfigureAwait(false);
                return;
            }
            if (_abort.IsCancellationRequested)
            {
                _stream.Reset();
                return;
            }
            if (_destination is not null)
            {
                relay.Metrics.ExitStream("opened");
                relay.Observer?.StreamOpened(_circuit, _destination);
            }
            await _circuit.SendBackwardAsync(opened, Id, ReadOnlyMemory<byte>.Empty, token).ConfigureAwait(false);
            // A pump that fails stops the other: the destination refusing the lazily proposed protocol ("na") or
            // resetting must reach the client as END now, not when the client gives up writing.
            using var pumps = CancellationTokenSource.CreateLinkedTokenSource(token);
            var toDestination = StopOthersOnFaultAsync(ToDestinationAsync(_stream, pumps.Token), pumps);
            var fromDestination = StopOthersOnFaultAsync(FromDestinationAsync(_stream, pumps.Token), pumps);
            var both = Task.WhenAll(toDestination, fromDestination);
            try
            {
                await both.ConfigureAwait(false);
            }
            catch (Exception first)
            {
                // The other pump, stopped by the first one's fault, ends with a cancellation that must not hide it.
                var bug = both.Exception?.InnerExceptions.FirstOrDefault(x => !IsDesignedEnd(x));
                if (bug is not null && !ReferenceEquals(bug, first)) ExceptionDispatchInfo.Throw(bug);
                throw;
            }
        }
        catch (Exception e) when (IsDesignedEnd(e))
        {
            _stream?.Reset();
            if (!circuitToken.IsCancellationRequested && !_abort.IsCancellationRequested)
            {
                try
                {
                    await _circuit.SendBackwardAsync(RelayCommand.End, Id, new[] { (byte)EndReason.ConnectFailed }, circuitToken).ConfigureAwait(false);
                }
                catch (Exception send) when (send is OperationCanceledException or IOException or ObjectDisposedException)
                {
                    // The circuit is ending (a closed link is a LinkClosedException, an IOException).
                }
                catch (Exception bug)
                {
                    await _circuit.FailAsync(bug).ConfigureAwait(false);
                }
            }
        }
        catch (Exception bug)
        {
            // No documented kind: a bug, not the destination's failure. The circuit ends with DESTROY internal (logged
            // and counted once) rather than the client reading it as connect_failed.
            _stream?.Reset();
            await _circuit.FailAsync(bug).ConfigureAwait(false);
        }
        finally
        {
            _circuit.RemoveStream(this);
            if (_stream is not null) await _stream.DisposeAsync().ConfigureAwait(false);
            await _toDestination.Reader.CompleteAsync().ConfigureAwait(false);
            await ReleaseQueuedAsync(circuitToken).ConfigureAwait(false);
        }
    }

    // How the end of a stream shows when nothing is wrong here: cancellation (the circuit or the stream ended), I/O errors
    // of the destination's stream or of a circuit link (a closed link is a LinkClosedException), the destination's
    // protocol failures, and a pipe of the destination end completed because that end was closed (reset by this side
    // or, at an introduction point, by the other half). Any other exception, any other InvalidOperationException
    // among them, is a bug.
    private bool IsDesignedEnd(Exception e) =>
        e is OperationCanceledException or IOException or ObjectDisposedException or FormatException or TimeoutException
        || (e is InvalidOperationException && _stream is { IsClosed: true });

    private static async Task StopOthersOnFaultAsync(Task pump, CancellationTokenSource pumps)
    {
        try
        {
            await pump.ConfigureAwait(false);
        }
        catch
        {
            await pumps.CancelAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task ToDestinationAsync(IExitEnd stream, CancellationToken token)
    {
        var reader = _toDestination.Reader;
        var increment = _circuit.RelayOptions.FlowControl;
        while (true)
        {
            var result = await reader.ReadAsync(token).ConfigureAwait(false);
            var buffer = result.Buffer;
            foreach (var segment in buffer) stream.Output.Write(segment.Span);
            if (!buffer.IsEmpty) await stream.Output.FlushAsync(token).ConfigureAwait(false);
            long consumed = buffer.Length;
            reader.AdvanceTo(buffer.End);
            int due;
            lock (_gate)
            {
                _queued -= consumed;
                due = _deliver.Consumed(consumed);
            }
            if (consumed > 0) await _circuit.ConsumedAsync(Id, consumed, due, token).ConfigureAwait(false);
            if (result.IsCompleted)
            {
                await stream.Output.CompleteAsync().ConfigureAwait(false);
                return;
            }
        }
    }

    // The stream ended: what the destination never took no longer counts against the circuit (its window and queue),
    // nor does anything that arrives for it from now on.
    private async Task ReleaseQueuedAsync(CancellationToken circuitToken)
    {
        long rest;
        lock (_gate)
        {
            _released = true;
            rest = _queued;
            _queued = 0;
        }
        if (rest == 0) return;
        try
        {
            await _circuit.ConsumedAsync(Id, rest, 0, circuitToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The circuit is ending: no SENDME is owed.
        }
        catch (Exception bug)
        {
            await _circuit.FailAsync(bug).ConfigureAwait(false);
        }
    }

    private async Task FromDestinationAsync(IExitEnd stream, CancellationToken token)
    {
        int capacity = _circuit.RelayOptions.Layout.RelayDataCapacity;
        var circuitWindow = _circuit.PackageWindow;
        while (true)
        {
            await PackageWindow.WaitOpenAsync(token).ConfigureAwait(false);
            await circuitWindow.WaitOpenAsync(token).ConfigureAwait(false);
            var result = await stream.Input.ReadAsync(token).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (buffer.IsEmpty && result.IsCompleted)
            {
                stream.Input.AdvanceTo(buffer.End);
                await _circuit.SendBackwardAsync(RelayCommand.End, Id, new[] { (byte)EndReason.Done }, token).ConfigureAwait(false);
                return;
            }
            // Up to one flush's worth of cells (one muxer frame) per write.
            int wanted = (int)Math.Min(_circuit.CellsPerFlush, (buffer.Length + capacity - 1) / capacity);
            int streamCells = PackageWindow.TryTake(wanted);
            int cells = circuitWindow.TryTake(streamCells);
            if (cells < streamCells) PackageWindow.Add(streamCells - cells);
            if (cells == 0)
            {
                stream.Input.AdvanceTo(buffer.Start);
                continue;
            }
            var chunk = buffer.Slice(0, Math.Min(buffer.Length, (long)cells * capacity));
            int used = (int)((chunk.Length + capacity - 1) / capacity);
            if (used < cells)
            {
                PackageWindow.Add(cells - used);
                circuitWindow.Add(cells - used);
            }
            await _circuit.SendDataAsync(Id, chunk, token).ConfigureAwait(false);
            stream.Input.AdvanceTo(chunk.End);
        }
    }
}

/// <summary>What became of a DATA cell an exit stream was given.</summary>
internal enum Delivery
{
    Queued,
    Dropped,
    Overrun,
}

/// <summary>What an exit stream moves data to and from: a stream to the destination, or one half of a splice.</summary>
internal interface IExitEnd : IDuplexPipe, IAsyncDisposable
{
    void Reset();

    /// <summary>Whether the end was reset or disposed (its pipes may then refuse calls with an
    /// <see cref="InvalidOperationException"/>: the designed close, not a bug). Set before the pipes complete.</summary>
    bool IsClosed { get; }
}

internal sealed class StreamEnd(IStream stream) : IExitEnd
{
    private int _closed;

    public PipeReader Input => stream.Input;

    public PipeWriter Output => stream.Output;

    public bool IsClosed => Volatile.Read(ref _closed) != 0;

    public void Reset()
    {
        Volatile.Write(ref _closed, 1);
        stream.Reset();
    }

    public ValueTask DisposeAsync()
    {
        Volatile.Write(ref _closed, 1);
        return stream.DisposeAsync();
    }
}
