using System.Buffers;
using System.Security.Cryptography;
using P2PStack.Privacy.Onion.Crypto;
using P2PStack.Privacy.Onion.Wire;

namespace P2PStack.Privacy.Onion.Client;

/// <summary>The circuit's reader: cells from the first relay, peeled hop by hop, dispatched by command; and the end
/// of the circuit.</summary>
internal sealed partial class ClientCircuit
{
    private async Task ReadLoopAsync()
    {
        await Task.Yield();
        // Per batch this loop peels a few cells and never blocks (its sends await the link's lock): it may run on the
        // muxer's read loop, with the senders that its SENDMEs resume (their windows are made so).
        if (_client.Options.Client.ReadLinkOnMuxerLoop) _link.Stream.TryReadInline();
        var token = _lifetime.Token;
        var cell = new byte[_layout.CellSize];
        int cellSize = _layout.CellSize;
        DestroyReason reason = DestroyReason.LinkClosed;
        bool sendDestroy = false;
        try
        {
            while (true)
            {
                // Not the lifetime's token: EndAsync cancels this read with CancelPendingRead (a token cancelled as well
                // would make the pipe throw instead).
                var result = await _link.ReadAsync(CancellationToken.None).ConfigureAwait(false);
                if (result.IsCanceled) return; // ended by this side (EndAsync cancels the read): no exception thrown
                var buffer = result.Buffer;
                while (buffer.Length >= cellSize)
                {
                    buffer.Slice(0, cellSize).CopyTo(cell);
                    buffer = buffer.Slice(cellSize);
                    switch ((CellCommand)cell[0])
                    {
                        case CellCommand.Padding:
                            _client.Metrics.CoverDropped();
                            break;
                        case CellCommand.Destroy:
                            _client.Metrics.Destroy((DestroyReason)cell[1], sent: false);
                            throw new CircuitException((DestroyReason)cell[1], "destroyed by a relay");
                        case CellCommand.Relay:
                            OnRelayCell(cell);
                            break;
                        default:
                            throw new OnionFormatException($"{(CellCommand)cell[0]} cell on an open circuit");
                    }
                }
                await FlushTouchedAsync(token).ConfigureAwait(false);
                // A close (EndAsync) that began while this batch was peeled completes the link's input without waiting for
                // this reader: nothing to consume then (the completed input would refuse it with an exception).
                if (token.IsCancellationRequested) return;
                _link.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    if (buffer.Length > 0) throw new OnionFormatException("the link ended inside a cell");
                    break;
                }
            }
        }
        catch (CircuitException e)
        {
            _client.CircuitFailure?.Invoke(e);
            reason = e.Reason;
            sendDestroy = e.Reason is DestroyReason.Integrity or DestroyReason.Protocol;
        }
        catch (OnionFormatException e)
        {
            _client.CircuitFailure?.Invoke(e);
            reason = DestroyReason.Protocol;
            sendDestroy = true;
        }
        catch (OperationCanceledException)
        {
            return; // ended by this side
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // The link gone: an I/O error, the end of the connection, or this side's close (CellLink turns the
            // completed pipe's InvalidOperationException into a LinkClosedException only then).
            _client.CircuitFailure?.Invoke(e);
            reason = DestroyReason.LinkClosed;
        }
        catch (Exception e)
        {
            // No documented kind (an InvalidOperationException of an open link among them): a bug, but the circuit
            // still ends (its streams fail, the relays let go) rather than leaving a dead reader behind a circuit that
            // looks open; never read as the link gone.
            _client.CircuitFailure?.Invoke(e);
            ReportInternal(e);
            reason = DestroyReason.Internal;
            sendDestroy = true;
        }
        await EndAsync(reason, sendDestroy, fromReader: true).ConfigureAwait(false);
    }

    private int _failed;

    /// <summary>Logs the first failure of no documented kind of this circuit (a bug); the DESTROY <c>internal</c> it
    /// sends is counted in <c>p2pstack_onion_destroys_total</c>.</summary>
    private void ReportInternal(Exception e)
    {
        if (Interlocked.Exchange(ref _failed, 1) == 0) _client.LogCircuitInternalError(Id, e);
    }

    /// <summary>Ends the circuit for <paramref name="e"/>, a failure of no documented kind in a part other than the
    /// reader (a stream's pump, the cover process): DESTROY <c>internal</c>, logged once.</summary>
    internal Task FailAsync(Exception e)
    {
        _client.CircuitFailure?.Invoke(e);
        ReportInternal(e);
        return EndAsync(DestroyReason.Internal, sendDestroy: true);
    }

    private void OnRelayCell(byte[] cell)
    {
        var hops = Volatile.Read(ref _hops);
        var body = cell.AsMemory(1);
        int origin = -1;
        for (int hop = 0; hop < hops.Length; hop++)
        {
            body.Span[..LayerCipher.TagSize].CopyTo(_tagBefore);
            if (hops[hop].Backward.Decrypt(body.Span))
            {
                origin = hop;
                break;
            }
        }
        if (origin < 0) throw new CircuitException(DestroyReason.Integrity, "a relay cell that no hop sent (changed, replayed or reordered)");
        var header = CellCodec.ReadRelayHeader(body.Span);
        bool fromExit = origin == hops.Length - 1;
        if (header.Command == RelayCommand.Drop)
        {
            _client.Metrics.CoverDropped();
            return;
        }
        if (header.Command == RelayCommand.Data)
        {
            if (!fromExit || header.More) throw new OnionFormatException("DATA from a hop that is not the exit, or spanning cells");
            if (!_deliver.Received(header.Length)) throw new OnionFormatException("DATA past the circuit window");
            // The circuit SENDME goes out with the others due at the end of this read (one write for all of them).
            if (_deliver.Consumed(header.Length) > 0) _pendingSendmes.Add((byte[])_tagBefore.Clone());
            ClientStream? stream;
            lock (_streams) _streams.TryGetValue(header.StreamId, out stream);
            if (stream is null) return; // a stream this side just closed
            if (!stream.Deliver(CellCodec.RelayData(body.Span, header))) throw new OnionFormatException($"DATA past the window of stream {header.StreamId}");
            if (!_touched.Contains(stream)) _touched.Add(stream);
            return;
        }
        var message = hops[origin].Assembler.Add(header, CellCodec.RelayData(body.Span, header));
        if (message is null) return;
        switch (header.Command)
        {
            case RelayCommand.Extended:
                if (!fromExit || Volatile.Read(ref _extended) is not { } pending) throw new OnionFormatException("EXTENDED that nobody asked for");
                pending.TrySetResult(message);
                break;
            case RelayCommand.Truncated:
                if (!fromExit || Volatile.Read(ref _extended) is not { } failed) throw new OnionFormatException("TRUNCATED that nobody asked for");
                var reason = message.Length > 0 ? (DestroyReason)message[0] : DestroyReason.None;
                failed.TrySetException(new CircuitException(reason, $"the last relay could not extend the circuit ({OnionMetrics.Label(reason)})"));
                break;
            case RelayCommand.Connected:
            case RelayCommand.End:
            case RelayCommand.Sendme:
                if (!fromExit) throw new OnionFormatException($"{header.Command} from a hop that is not the exit");
                OnStreamMessage(header.Command, header.StreamId, message);
                break;
            case RelayCommand.IntroEstablished:
                if (!fromExit || header.StreamId != 0 || message.Length != 1 || Volatile.Read(ref _introEstablished) is not { } established)
                    throw new OnionFormatException("INTRO_ESTABLISHED that nobody asked for");
                established.TrySetResult((IntroStatus)message[0]);
                break;
            case RelayCommand.Introduced:
                if (!fromExit || header.StreamId == 0 || Volatile.Read(ref _introduced) is not { } accept)
                    throw new OnionFormatException("INTRODUCED on a circuit that registered no introduction");
                OnIntroduced(header.StreamId, accept);
                break;
            default:
                throw new OnionFormatException($"{header.Command} does not travel towards the client");
        }
    }

    private void OnStreamMessage(RelayCommand command, ushort streamId, byte[] message)
    {
        if (command == RelayCommand.Sendme && streamId == 0)
        {
            if (message.Length != 1 + LayerCipher.TagSize || message[0] != 1) throw new OnionFormatException("malformed circuit SENDME");
            byte[] expected;
            lock (_sendmeTags)
            {
                if (!_sendmeTags.TryDequeue(out expected!)) throw new OnionFormatException("circuit SENDME without DATA to acknowledge");
            }
            if (!CryptographicOperations.FixedTimeEquals(expected, message.AsSpan(1))) throw new OnionFormatException("circuit SENDME with the wrong tag");
            PackageWindow.Add(_client.Options.FlowControl.CircuitSendmeIncrement);
            return;
        }
        ClientStream? stream;
        lock (_streams) _streams.TryGetValue(streamId, out stream);
        if (stream is null) return;
        switch (command)
        {
            case RelayCommand.Connected:
                stream.OnConnected();
                break;
            case RelayCommand.End:
                stream.OnEnd(message.Length > 0 ? (EndReason)message[0] : EndReason.Done);
                break;
            case RelayCommand.Sendme:
                stream.PackageWindow.Add(_client.Options.FlowControl.StreamSendmeIncrement);
                break;
        }
    }

    // The introduction point opened a stream to this service: it is connected from the start.
    private void OnIntroduced(ushort id, Func<ClientStream, bool> accept)
    {
        ClientStream stream;
        lock (_streams)
        {
            if (_streams.ContainsKey(id)) throw new OnionFormatException($"INTRODUCED for stream {id}, which is open");
            var local = Transport.OnionAddress.Listen;
            var remote = Transport.OnionAddress.InboundRemote(Exit.Peer);
            stream = new ClientStream(this, id, _client.Options.FlowControl, _client.Options.Client.StreamWriteAheadBytes,
                _client.Options.Client.ReadLinkOnMuxerLoop, _client.Options.Client.PumpOnWriter, local, remote, P2PStack.Network.Direction.Inbound) { IsAnonymous = true };
            _streams[id] = stream;
        }
        stream.OnConnected();
        stream.Start();
        bool taken;
        try
        {
            taken = accept(stream);
        }
        catch (Exception e) when (e is InvalidOperationException or ObjectDisposedException)
        {
            taken = false;
        }
        if (!taken) stream.Abort();
    }

    private async ValueTask FlushTouchedAsync(CancellationToken token)
    {
        if (_touched.Count > 0)
        {
            foreach (var stream in _touched) await stream.FlushDeliveredAsync().ConfigureAwait(false);
            _touched.Clear();
        }
        if (_pendingSendmes.Count > 0)
        {
            await SendSendmesAsync(_pendingSendmes, 0, 0, token).ConfigureAwait(false);
            _pendingSendmes.Clear();
        }
    }

    /// <summary>Ends the circuit once: optionally DESTROY to the first relay, the link closed, every stream failed.</summary>
    private async Task EndAsync(DestroyReason reason, bool sendDestroy, bool fromReader = false)
    {
        if (Interlocked.Exchange(ref _closing, 1) != 0)
        {
            // Another end is under way. The reader must not wait for it: that end waits for the reader to finish
            // (a close whose DESTROY or link teardown let the relay's answer reach the reader before the reader was
            // cancelled never returned).
            if (!fromReader) await _closed.Task.ConfigureAwait(false);
            return;
        }
        // The reader's pending read returns without an exception (the token's cancellation below would throw one).
        // Before the DESTROY: the first relay answers it by resetting the link's stream, and a reset that reached a
        // read still pending failed it with a StreamResetException (a few circuits per thousand on loopback).
        _link.CancelPendingRead();
        if (sendDestroy)
        {
            _client.Metrics.Destroy(reason, sent: true);
            using var budget = new CancellationTokenSource(_client.Options.TeardownTimeout);
            await _link.SendControlAsync(CellCommand.Destroy, reason, budget.Token).ConfigureAwait(false);
        }
        await _lifetime.CancelAsync().ConfigureAwait(false);
        PackageWindow.Fail();
        Volatile.Read(ref _extended)?.TrySetException(new CircuitException(reason, $"the circuit ended ({OnionMetrics.Label(reason)})"));
        Volatile.Read(ref _introEstablished)?.TrySetException(new CircuitException(reason, $"the circuit ended ({OnionMetrics.Label(reason)})"));
        ClientStream[] streams;
        lock (_streams)
        {
            streams = [.. _streams.Values];
            _streams.Clear();
        }
        foreach (var stream in streams) stream.OnCircuitClosed(reason);
        await _link.CloseAsync(abort: !sendDestroy, _client.Options.TeardownTimeout).ConfigureAwait(false);
        if (!fromReader) await _reader.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _cover.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        // The layers go once no writer can be inside the link's lock (writers see the circuit closed).
        using (var budget = new CancellationTokenSource(_client.Options.TeardownTimeout))
        {
            bool locked = false;
            try
            {
                await _link.LockAsync(budget.Token).ConfigureAwait(false);
                locked = true;
                foreach (var hop in Volatile.Read(ref _hops))
                {
                    hop.Forward.Dispose();
                    hop.Backward.Dispose();
                }
            }
            catch (OperationCanceledException)
            {
                // A writer is stuck; the keys go with the garbage collector.
            }
            finally
            {
                if (locked) _link.Unlock();
            }
        }
        _closed.TrySetResult(reason);
        _client.CircuitEnded(this, reason);
    }
}
