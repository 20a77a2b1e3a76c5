using System.Buffers;
using System.IO.Pipelines;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Privacy.Onion.Wire;

namespace P2PStack.Privacy.Onion.Client;

/// <summary>
/// A stream over a circuit to a destination, as a raw connection: the upgrader runs Noise and yamux inside it end to
/// end, so the exit only ever sees ciphertext. Writes go out as DATA cells as the stream and circuit windows allow;
/// DATA from the exit is queued for the reader, and a stream SENDME goes back for each increment of cells the reader
/// has consumed (the queue is bounded by the window). Completing the output sends END (done), a half-close;
/// <see cref="Abort"/> sends END (reset).
/// </summary>
internal sealed class ClientStream : IRawConnection
{
    private readonly ClientCircuit _circuit;
    private readonly Pipe _inbound = new(new PipeOptions(pauseWriterThreshold: 0, resumeWriterThreshold: 0, useSynchronizationContext: false));
    // What the upgrader writes, for the pump. It may run up to Client.StreamWriteAheadBytes ahead of the pump (by default
    // a stream window's DATA, not the pipe's 64 KiB default, one end-to-end Noise message): a steady sender's next message
    // is then already there when the pump reaches the tail of the previous one, and the tail goes out with it in a whole
    // write (see PumpAsync).
    private readonly Pipe _outbound;
    private readonly DeliveryWindow _deliver;
    private readonly CountingReader _reader;
    private readonly CancellationTokenSource _abort = new();
    // The inbound pipe's writer is fed by the circuit's reader and completed by whoever ends the stream first (the
    // reader, the circuit's end, the application's abort): each use checks and completes it under this lock, so that
    // no write meets a completed writer (whose InvalidOperationException would be a bug, not the stream's end).
    private readonly Lock _inboundGate = new();
    private readonly TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _pump = Task.CompletedTask;
    private int _remoteDone;
    private int _localDone;
    private int _disposed;

    /// <param name="resumeOnReader">Whether the pump, waiting for the stream window, resumes on the circuit reader's
    /// thread when a SENDME refills it (<see cref="OnionClientOptions.ReadLinkOnMuxerLoop"/>).</param>
    /// <param name="pumpOnWriter">Whether the pump resumes on the thread that flushes the upgrader's writes
    /// (<see cref="OnionClientOptions.PumpOnWriter"/>).</param>
    public ClientStream(ClientCircuit circuit, ushort id, FlowControlOptions flow, int writeAheadBytes, bool resumeOnReader,
        bool pumpOnWriter, Multiaddr localAddress, Multiaddr remoteAddress, Direction direction = Direction.Outbound)
    {
        _circuit = circuit;
        Direction = direction;
        Id = id;
        LocalAddress = localAddress;
        RemoteAddress = remoteAddress;
        PackageWindow = new FlowWindow(flow.StreamWindow, resumeWaitersInline: resumeOnReader);
        _outbound = new Pipe(new PipeOptions(readerScheduler: pumpOnWriter ? PipeScheduler.Inline : PipeScheduler.ThreadPool,
            pauseWriterThreshold: writeAheadBytes, resumeWriterThreshold: writeAheadBytes / 2, useSynchronizationContext: false));
        _deliver = new DeliveryWindow(flow.StreamWindow, flow.StreamSendmeIncrement);
        _reader = new CountingReader(_inbound.Reader, this);
    }

    public ushort Id { get; }

    public FlowWindow PackageWindow { get; }

    public PipeReader Input => _reader;

    public PipeWriter Output => _outbound.Writer;

    public Multiaddr LocalAddress { get; }

    public Multiaddr RemoteAddress { get; }

    /// <summary>Outbound for a stream this side opened; Inbound for one an introduction point opened to this service.</summary>
    public Direction Direction { get; }

    /// <summary>A service's inbound stream hides its remote (an ephemeral client behind a circuit).</summary>
    public bool IsAnonymous { get; init; }

    /// <summary>The identity a service authenticates as on an inbound stream (its shadow address's), or null.</summary>
    public ILocalIdentity? LocalIdentity { get; set; }

    public IReadOnlyList<string>? RequiredInboundFilters { get; set; }

    /// <summary>Completes when the exit reports the destination stream open; faults when it refuses.</summary>
    public Task Connected => _connected.Task;

    internal void Start() => _pump = PumpAsync();

    /// <summary>Queues DATA from the exit; false when it overruns the stream window.</summary>
    internal bool Deliver(ReadOnlySpan<byte> data)
    {
        if (!_deliver.Received(data.Length)) return false;
        lock (_inboundGate)
        {
            if (_remoteDone == 0) _inbound.Writer.Write(data);
        }
        return true;
    }

    internal async ValueTask FlushDeliveredAsync()
    {
        ValueTask<FlushResult> flush;
        lock (_inboundGate)
        {
            if (_remoteDone != 0) return;
            // The pipe never pauses its writer (the stream window bounds it), so the flush is done when it returns.
            flush = _inbound.Writer.FlushAsync();
        }
        await flush.ConfigureAwait(false);
    }

    /// <summary>Completes the inbound pipe once (with <paramref name="error"/> for the reader), under the lock.</summary>
    private bool TryCompleteInbound(Exception? error)
    {
        lock (_inboundGate)
        {
            if (_remoteDone != 0) return false;
            Volatile.Write(ref _remoteDone, 1);
            _inbound.Writer.Complete(error);
            return true;
        }
    }

    /// <summary>The exit's END with a reason other than done, once it arrived (before or after CONNECTED).</summary>
    internal OnionStreamException? EndedBy { get; private set; }

    internal void OnConnected() => _connected.TrySetResult();

    internal void OnEnd(EndReason reason)
    {
        if (reason == EndReason.Done)
        {
            if (!TryCompleteInbound(null)) return;
            _connected.TrySetResult();
        }
        else
        {
            var error = new OnionStreamException(reason, $"the circuit stream ended: {Describe(reason)}");
            if (!TryCompleteInbound(error)) return;
            EndedBy = error;
            FailConnected(error);
            _abort.Cancel();
        }
        RemoveIfDone();
    }

    // Nobody may await Connected (a dial reads the refusal from EndedBy; IntroduceAsync stops waiting when cancelled):
    // its fault is marked observed here, or it surfaces as an unobserved task exception when collected.
    private void FailConnected(Exception error)
    {
        if (_connected.TrySetException(error)) _ = _connected.Task.Exception;
    }

    internal void OnCircuitClosed(DestroyReason reason)
    {
        var error = new CircuitException(reason, $"the circuit ended ({OnionMetrics.Label(reason)})");
        FailConnected(error);
        TryCompleteInbound(error);
        _abort.Cancel();
    }

    public void Abort()
    {
        if (Interlocked.Exchange(ref _localDone, 1) == 0)
            _ = SendEndAsync(EndReason.Reset);
        _abort.Cancel();
        TryCompleteInbound(new IOException("the circuit stream was aborted"));
        _circuit.RemoveStream(this);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _outbound.Writer.CompleteAsync().ConfigureAwait(false);
        await _pump.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _reader.CompleteAsync().ConfigureAwait(false);
        lock (_inboundGate) Volatile.Write(ref _remoteDone, 1);
        _circuit.RemoveStream(this);
    }

    // Cuts what the upgrader writes into DATA cells, as the windows allow; END (done) once the output completes. Each
    // write to the link is up to one muxer frame of cells (CellLink.CellsPerFlush). A tail shorter than that goes out
    // alone only when nothing more has been written after it: otherwise it leads the next write. An end-to-end Noise
    // message (65,537 bytes framed) is 133.2 cells, so cutting each one on its own made a 127-cell write and a 7-cell
    // one, two writes at every hop for each 64 KiB; the check reads without waiting, so a lone write (an echo) still
    // leaves at once.
    private async Task PumpAsync()
    {
        await Task.Yield();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(_abort.Token, _circuit.Lifetime);
        var token = linked.Token;
        var reader = _outbound.Reader;
        int capacity = _circuit.Layout.RelayDataCapacity;
        long wholeWrite = (long)_circuit.Link.CellsPerFlush * capacity;
        try
        {
            var result = await reader.ReadAsync(token).ConfigureAwait(false);
            while (true)
            {
                var buffer = result.Buffer;
                if (buffer.IsEmpty && result.IsCompleted) break;
                bool lookedForMore = false;
                while (!buffer.IsEmpty)
                {
                    if (buffer.Length < wholeWrite && !result.IsCompleted && !lookedForMore)
                    {
                        // Whatever was sent is consumed; what the upgrader wrote since is read with the tail.
                        reader.AdvanceTo(buffer.Start);
                        if (!reader.TryRead(out result)) result = await reader.ReadAsync(token).ConfigureAwait(false); // not expected: the tail is there
                        lookedForMore = result.Buffer.Length == buffer.Length;
                        buffer = result.Buffer;
                        continue;
                    }
                    await PackageWindow.WaitOpenAsync(token).ConfigureAwait(false);
                    await _circuit.PackageWindow.WaitOpenAsync(token).ConfigureAwait(false);
                    // Up to one flush's worth of cells (one muxer frame) per write.
                    int wanted = (int)Math.Min(_circuit.Link.CellsPerFlush, (buffer.Length + capacity - 1) / capacity);
                    int streamCells = PackageWindow.TryTake(wanted);
                    int cells = _circuit.PackageWindow.TryTake(streamCells);
                    if (cells < streamCells) PackageWindow.Add(streamCells - cells);
                    if (cells == 0) continue;
                    var chunk = buffer.Slice(0, Math.Min(buffer.Length, (long)cells * capacity));
                    int used = (int)((chunk.Length + capacity - 1) / capacity);
                    if (used < cells)
                    {
                        PackageWindow.Add(cells - used);
                        _circuit.PackageWindow.Add(cells - used);
                    }
                    await _circuit.SendDataAsync(Id, chunk, token).ConfigureAwait(false);
                    buffer = buffer.Slice(chunk.End);
                }
                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted) break;
                result = await reader.ReadAsync(token).ConfigureAwait(false);
            }
            if (Interlocked.Exchange(ref _localDone, 1) == 0) await SendEndAsync(EndReason.Done).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // Aborted, or the circuit ended (a closed link says so with a LinkClosedException): the reader side
            // reports why.
        }
        catch (Exception bug)
        {
            _ = _circuit.FailAsync(bug);
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
            RemoveIfDone();
        }
    }

    private async Task SendEndAsync(EndReason reason)
    {
        try
        {
            await _circuit.SendMessageAsync(_circuit.HopCount - 1, RelayCommand.End, Id, new[] { (byte)reason }, early: false, _circuit.Lifetime)
                .ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // The circuit ended; its reader reports why.
        }
        catch (Exception bug)
        {
            _ = _circuit.FailAsync(bug);
        }
    }

    private void RemoveIfDone()
    {
        if (Volatile.Read(ref _remoteDone) != 0 && Volatile.Read(ref _localDone) != 0) _circuit.RemoveStream(this);
    }

    // Counts what the reader consumes, and sends the stream SENDMEs that frees.
    private void Consumed(long bytes)
    {
        int due = _deliver.Consumed(bytes);
        if (due > 0) _ = SendSendmesAsync(due);
    }

    private async Task SendSendmesAsync(int count)
    {
        try
        {
            await _circuit.SendSendmesAsync([], Id, count, _circuit.Lifetime).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException)
        {
            // The circuit ended; its reader reports why.
        }
        catch (Exception bug)
        {
            _ = _circuit.FailAsync(bug);
        }
    }

    private static string Describe(EndReason reason) => reason switch
    {
        EndReason.ExitPolicy => "the exit's policy does not allow this destination",
        EndReason.ConnectFailed => "the exit could not reach the destination, or it does not accept circuit connections",
        EndReason.ResourceLimit => "the last relay refused: stream limit or introduction rate",
        EndReason.NoIntroduction => "no service is registered at this introduction point for the auth key",
        EndReason.NotExit => "the last relay is not an exit",
        EndReason.Protocol => "protocol violation",
        EndReason.Reset => "reset by the other end",
        _ => reason.ToString(),
    };

    /// <summary>The reader handed to the upgrader: a pass-through that counts consumed bytes for flow control.</summary>
    private sealed class CountingReader(PipeReader inner, ClientStream owner) : PipeReader
    {
        private ReadOnlySequence<byte> _last;

        public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            long bytes = _last.Slice(_last.Start, consumed).Length;
            inner.AdvanceTo(consumed, examined);
            _last = default;
            if (bytes > 0) owner.Consumed(bytes);
        }

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            var result = await inner.ReadAsync(cancellationToken).ConfigureAwait(false);
            _last = result.Buffer;
            return result;
        }

        public override bool TryRead(out ReadResult result)
        {
            if (!inner.TryRead(out result)) return false;
            _last = result.Buffer;
            return true;
        }
    }
}
