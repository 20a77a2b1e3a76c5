using System.Buffers;
using System.Security.Cryptography;
using Google.Protobuf;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Privacy.Onion.Crypto;
using P2PStack.Privacy.Onion.Wire;

namespace P2PStack.Privacy.Onion.Relay;

/// <summary>The last hop as an exit: BEGIN opens a stream to the destination, DATA goes both ways under circuit and
/// stream windows, SENDMEs refill them (a circuit SENDME must carry the tag of the cell that completed the
/// increment, proving that the client read it), END closes. Forward DATA counts as consumed, at both levels, once a
/// destination took it (or it was dropped for a stream that ended): the circuit window then bounds what the exit
/// queues for the circuit's streams, and <see cref="OnionRelayOptions.MaxQueuedCellsPerCircuit"/> caps it.</summary>
internal sealed partial class RelayCircuit
{
    private readonly Dictionary<ushort, ExitStream> _streams = [];
    private readonly List<ExitStream> _touched = [];
    private readonly Queue<byte[]> _sendmeTags = new();
    private readonly Queue<byte[]> _incrementTags = new(); // tags of arrived DATA cells that complete an increment, oldest first
    private readonly List<byte[]> _tagsToSend = []; // under the previous link's lock
    private int _circuitSendmesDue; // circuit SENDMEs due (increments consumed) and not yet written
    private long _queuedBytes; // forward DATA bytes queued in exit streams that no destination took yet
    private readonly List<(ushort Stream, int Count)> _streamSendmes = []; // the forward loop's only
    private readonly Lock _deferGate = new();
    private readonly List<(ushort Stream, int Count)> _deferredSendmes = []; // under _deferGate
    private bool _collectingSendmes; // under _deferGate
    private readonly byte[] _sendmeBody = new byte[1 + LayerCipher.TagSize];
    private readonly FlowWindow _packageWindow;
    private readonly DeliveryWindow _deliverWindow;
    private long _backwardDataCells;

    /// <summary>Backward DATA cells the circuit window still allows.</summary>
    internal FlowWindow PackageWindow => _packageWindow;

    internal OnionOptions RelayOptions => Options;

    internal OnionRelay Relay => _relay;

    private void StartStream(ushort id, byte[] message)
    {
        if (id == 0) throw new OnionFormatException("BEGIN on stream 0");
        Pb.Begin begin;
        PeerId destination;
        try
        {
            begin = Pb.Begin.Parser.ParseFrom(message);
            destination = PeerId.FromBytes(begin.PeerId.Span);
        }
        catch (Exception e) when (e is InvalidProtocolBufferException or P2PFormatException)
        {
            throw new OnionFormatException($"malformed BEGIN: {e.Message}", e);
        }
        EndReason? refusal = null;
        string outcome = "opened";
        ExitStream? stream = null;
        lock (_streams)
        {
            if (_streams.ContainsKey(id)) throw new OnionFormatException($"BEGIN for stream {id}, which is open");
            if (!_relay.ExitAllows(destination) || destination.Equals(_relay.Host.PeerId))
            {
                refusal = _relay.Options.Relay.ExitPolicy.Exit ? EndReason.ExitPolicy : EndReason.NotExit;
                outcome = "policy";
            }
            else if (_streams.Count >= Options.Relay.MaxStreamsPerCircuit)
            {
                refusal = EndReason.ResourceLimit;
                outcome = "limit";
            }
            else
            {
                stream = new ExitStream(this, id, destination, Options.FlowControl);
                AddStreamLocked(id, stream);
            }
        }
        if (stream is null)
        {
            _relay.Metrics.ExitStream(outcome);
            if (outcome == "limit") _relay.Metrics.Refused("max_streams_per_circuit");
            RunOwned(t => SendBackwardAsync(RelayCommand.End, id, new[] { (byte)refusal!.Value }, t));
            return;
        }
        var addresses = new List<Multiaddr>();
        foreach (var bytes in begin.Addresses.Take(16))
            if (Multiaddr.TryDecode(bytes.Span, out var address)) addresses.Add(address);
        RunOwned(t => stream.RunAsync(addresses, t));
    }

    internal void RemoveStream(ExitStream stream)
    {
        lock (_streams)
        {
            if (_streams.TryGetValue(stream.Id, out var current) && ReferenceEquals(current, stream)) _streams.Remove(stream.Id);
            if (ReferenceEquals(_lastFound, stream)) _lastFound = null;
        }
    }

    // The stream FindStream found last: DATA comes in long runs for one stream, and a lookup under the lock for each
    // cell was a measurable share of an exit's CPU. Written under the lock of _streams only, and cleared there when the
    // stream is removed or any stream is added, so a stale value is at worst a stream that was removed after it was
    // read: as a lookup just before the removal would have found (its delivery then drops the data).
    private ExitStream? _lastFound;

    private ExitStream? FindStream(ushort id)
    {
        var last = Volatile.Read(ref _lastFound);
        if (last is not null && last.Id == id) return last;
        lock (_streams)
        {
            if (_streams.TryGetValue(id, out var stream)) _lastFound = stream;
            return stream;
        }
    }

    /// <summary>Adds a stream under the lock of <see cref="_streams"/>.</summary>
    private void AddStreamLocked(ushort id, ExitStream stream)
    {
        _streams[id] = stream;
        _lastFound = null;
    }

    private void OnData(ushort id, ReadOnlySpan<byte> data)
    {
        if (!_deliverWindow.Received(data.Length, out bool completesIncrement)) throw new OnionFormatException("DATA past the circuit window");
        // The circuit SENDME carries the tag of the cell that completed the increment, as it arrived: only a reader of
        // the cell knows it. It goes out once the increment's bytes were taken (ConsumedAsync, FlushStreamsAsync).
        if (completesIncrement)
        {
            lock (_incrementTags) _incrementTags.Enqueue((byte[])_lastTagIn.Clone());
        }
        var stream = FindStream(id);
        switch (stream?.Deliver(data) ?? Delivery.Dropped)
        {
            case Delivery.Overrun:
                throw new OnionFormatException($"DATA past the window of stream {id}");
            case Delivery.Dropped:
                // A stream that just ended: late data is dropped, and taken at once as far as the window goes.
                CircuitConsumed(data.Length);
                return;
        }
        long limit = (long)Options.Relay.MaxQueuedCellsPerCircuit * _layout.RelayDataCapacity;
        if (Interlocked.Add(ref _queuedBytes, data.Length) > limit)
        {
            _relay.Metrics.Refused("max_queued_cells");
            throw new CircuitEndedException(DestroyReason.ResourceLimit, Side.None,
                $"more than {Options.Relay.MaxQueuedCellsPerCircuit} cells of data queued for the destinations");
        }
        if (_touched.Count == 0 || (!ReferenceEquals(_touched[^1], stream) && !_touched.Contains(stream!))) _touched.Add(stream!);
    }

    // Forward DATA taken (or dropped): the circuit SENDMEs that makes due are written by whoever sends SENDMEs next.
    private void CircuitConsumed(long bytes)
    {
        int due = _deliverWindow.Consumed(bytes);
        if (due > 0) Interlocked.Add(ref _circuitSendmesDue, due);
    }

    /// <summary>A stream's pump handed <paramref name="bytes"/> to its destination (or let go of them when the stream
    /// ended), making <paramref name="streamSendmes"/> stream SENDMEs due. When the forward loop is flushing its streams
    /// (the pump runs inline in that flush, ExitStream) they go out with its batch, in one write; otherwise now.</summary>
    internal async ValueTask ConsumedAsync(ushort streamId, long bytes, int streamSendmes, CancellationToken token)
    {
        Interlocked.Add(ref _queuedBytes, -bytes);
        CircuitConsumed(bytes);
        if (streamSendmes == 0 && Volatile.Read(ref _circuitSendmesDue) == 0) return;
        lock (_deferGate)
        {
            if (_collectingSendmes)
            {
                if (streamSendmes > 0) _deferredSendmes.Add((streamId, streamSendmes));
                return;
            }
        }
        await SendSendmesBackwardAsync(streamSendmes > 0 ? [(streamId, streamSendmes)] : [], token).ConfigureAwait(false);
    }

    private async Task FlushStreamsAsync(CancellationToken token)
    {
        if (_touched.Count > 0)
        {
            // The streams' pumps run inline in these flushes (ExitStream): stream SENDMEs they make due meanwhile are
            // left here and go out with this batch's circuit SENDMEs, in one write.
            lock (_deferGate) _collectingSendmes = true;
            try
            {
                foreach (var stream in _touched) await stream.FlushDeliveredAsync().ConfigureAwait(false);
            }
            finally
            {
                lock (_deferGate)
                {
                    _collectingSendmes = false;
                    _streamSendmes.AddRange(_deferredSendmes);
                    _deferredSendmes.Clear();
                }
            }
            _touched.Clear();
        }
        if (Volatile.Read(ref _circuitSendmesDue) > 0 || _streamSendmes.Count > 0)
        {
            try
            {
                await SendSendmesBackwardAsync(_streamSendmes, token).ConfigureAwait(false);
            }
            finally
            {
                _streamSendmes.Clear();
            }
        }
    }

    /// <summary>Sends SENDMEs towards the client in one write: the circuit SENDMEs due (each with the tag of its
    /// increment, oldest first: taken under the link's lock, so that they go out in order), then the stream SENDMEs
    /// (stream id, how many) in <paramref name="streamSendmes"/>. One flush for all of them: every flush is a write
    /// through each relay on the way, and a thread woken at each. Each cell is written synchronously; only a flush
    /// (a whole muxer frame pending, or the end) is awaited.</summary>
    private async Task SendSendmesBackwardAsync(List<(ushort Stream, int Count)> streamSendmes, CancellationToken token)
    {
        await _prev.LockAsync(token).ConfigureAwait(false);
        try
        {
            int circuitSendmes = Interlocked.Exchange(ref _circuitSendmesDue, 0);
            if (circuitSendmes == 0 && streamSendmes.Count == 0) return;
            _tagsToSend.Clear();
            lock (_incrementTags)
            {
                for (int i = 0; i < circuitSendmes; i++) _tagsToSend.Add(_incrementTags.Dequeue());
            }
            for (int i = 0; i < _tagsToSend.Count; i++)
            {
                if (_prev.FlushDue) await _prev.FlushAsync(token).ConfigureAwait(false);
                WriteSendmeLocked(_tagsToSend, i, 0);
            }
            foreach (var (stream, count) in streamSendmes)
            {
                for (int i = 0; i < count; i++)
                {
                    if (_prev.FlushDue) await _prev.FlushAsync(token).ConfigureAwait(false);
                    WriteSendmeLocked([], 0, stream);
                }
            }
            await _prev.FlushAsync(token).ConfigureAwait(false);
        }
        finally
        {
            _prev.Unlock();
        }
    }

    // One SENDME cell into the previous link (under its lock, with room before a flush).
    private void WriteSendmeLocked(IReadOnlyList<byte[]> circuitTags, int index, ushort streamId)
    {
        var span = _prev.Begin();
        CellCodec.WriteSendmeCell(span, circuitTags, index, streamId, _sendmeBody); // _sendmeBody: under the link's lock only
        _backward!.Encrypt(span[1..]);
        _prev.Commit();
    }

    private void OnEnd(ushort id, byte[] message)
    {
        var stream = FindStream(id);
        if (stream is null) return;
        var reason = message.Length > 0 ? (EndReason)message[0] : EndReason.Done;
        if (reason == EndReason.Done) stream.RemoteFinished();
        else stream.Abort();
    }

    private void OnSendme(ushort id, byte[] message)
    {
        if (id != 0)
        {
            FindStream(id)?.PackageWindow.Add(Options.FlowControl.StreamSendmeIncrement);
            return;
        }
        if (message.Length != 1 + LayerCipher.TagSize || message[0] != 1) throw new OnionFormatException("malformed circuit SENDME");
        byte[] expected;
        lock (_sendmeTags)
        {
            if (!_sendmeTags.TryDequeue(out expected!)) throw new OnionFormatException("circuit SENDME without DATA to acknowledge");
        }
        if (!CryptographicOperations.FixedTimeEquals(expected, message.AsSpan(1)))
            throw new OnionFormatException("circuit SENDME with the wrong tag");
        _packageWindow.Add(Options.FlowControl.CircuitSendmeIncrement);
    }

    /// <summary>Sends the bytes of <paramref name="data"/> as DATA cells of a stream (the windows were taken by the
    /// caller), recording the tag of each cell that completes a circuit SENDME increment.</summary>
    internal async Task SendDataAsync(ushort id, ReadOnlySequence<byte> data, CancellationToken token)
    {
        int capacity = _layout.RelayDataCapacity;
        int increment = Options.FlowControl.CircuitSendmeIncrement;
        await _prev.LockAsync(token).ConfigureAwait(false);
        try
        {
            while (data.Length > 0)
            {
                if (_prev.FlushDue) await _prev.FlushAsync(token).ConfigureAwait(false);
                var chunk = data.Slice(0, Math.Min(capacity, data.Length));
                data = data.Slice(chunk.End);
                var span = _prev.Begin();
                span[0] = (byte)CellCommand.Relay;
                CellCodec.WriteRelayPlaintext(span[1..], RelayCommand.Data, id, chunk, more: false);
                _backward!.Encrypt(span[1..]);
                if (++_backwardDataCells % increment == 0)
                {
                    lock (_sendmeTags) _sendmeTags.Enqueue(span.Slice(1, LayerCipher.TagSize).ToArray());
                }
                _prev.Commit();
            }
            await _prev.FlushAsync(token).ConfigureAwait(false);
        }
        finally
        {
            _prev.Unlock();
        }
    }

    /// <summary>Cells per write on the link towards the client (one muxer frame).</summary>
    internal int CellsPerFlush => _prev.CellsPerFlush;

    private void AbortStreams()
    {
        ExitStream[] streams;
        lock (_streams) streams = [.. _streams.Values];
        foreach (var stream in streams) stream.Abort();
    }
}
