using System.Buffers;
using P2PStack.Network;

namespace P2PStack.Muxers.Yamux;

/// <summary>Reading: the read loop, frame parsing and dispatch to streams, remote stream opens, go-away.</summary>
public sealed partial class YamuxSession
{
    private async Task ReadLoopAsync()
    {
        var input = connection.Input;
        Exception reason = new MuxerClosedException("yamux connection closed by the remote");
        GoAwayCode? goAway = null;
        try
        {
            while (true)
            {
                var result = await input.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    return; // shutdown
                }

                var buffer = result.Buffer;
                bool paused = false;
                try
                {
                    paused = ProcessFrames(ref buffer);
                }
                finally
                {
                    // Paused with whole frames left: mark nothing beyond them examined, so the next read returns at once.
                    input.AdvanceTo(buffer.Start, paused ? buffer.Start : buffer.End);
                }

                FlushDeferredInbound();

                if (result.IsCompleted && !paused)
                {
                    if (!buffer.IsEmpty || payloadRemaining > 0)
                    {
                        reason = new MuxerClosedException("yamux connection closed by the remote in the middle of a frame");
                    }

                    return;
                }

                await WaitForControlDrainAsync().ConfigureAwait(false);
            }
        }
        catch (YamuxProtocolException ex)
        {
            reason = ex;
            goAway = GoAwayCode.ProtocolError;
        }
        catch (OperationCanceledException) when (lifetime.IsCancellationRequested)
        {
        }
        catch (MuxerClosedException ex)
        {
            reason = ex;
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or InvalidOperationException)
        {
            reason = new MuxerClosedException("yamux connection failed", ex);
        }
        catch (Exception ex)
        {
            Log.InternalError(logger, ex);
            reason = new MuxerClosedException("yamux session failed internally", ex);
            goAway = GoAwayCode.InternalError;
        }
        finally
        {
            await input.CompleteAsync().ConfigureAwait(false);
            _ = BeginShutdown(reason, goAway);
        }
    }

    /// <returns>True when processing stopped early because too many control frames wait to be written: the rest
    /// of <paramref name="buffer"/> is read again once they drain (a flood of pings or SYNs from a peer that does not
    /// read our answers cannot grow the queue past <see cref="YamuxOptions.MaxPendingControlFrames"/>).</returns>
    private bool ProcessFrames(ref ReadOnlySequence<byte> buffer)
    {
        while (true)
        {
            if (payloadRemaining > 0)
            {
                if (buffer.IsEmpty)
                {
                    return false;
                }

                long take = Math.Min(payloadRemaining, buffer.Length);
                payloadStream?.DeliverData(buffer.Slice(0, take));
                buffer = buffer.Slice(take);
                payloadRemaining -= take;
                if (payloadRemaining == 0)
                {
                    FinishPayload();
                }

                continue;
            }

            if (Volatile.Read(ref pendingControl) > Options.MaxPendingControlFrames)
            {
                return !buffer.IsEmpty;
            }

            if (!YamuxFrameCodec.TryRead(buffer, out var header))
            {
                return false;
            }

            buffer = buffer.Slice(YamuxFrameCodec.HeaderLength);
            switch (header.Type)
            {
                case YamuxFrameType.Data:
                case YamuxFrameType.WindowUpdate:
                    HandleStreamFrame(header);
                    break;
                case YamuxFrameType.Ping:
                    HandlePing(header);
                    break;
                case YamuxFrameType.GoAway:
                    HandleGoAway(header);
                    break;
            }
        }
    }

    /// <summary>A stream whose reader runs on the read loop got data: flushed at the end of the read batch.</summary>
    internal void DeferInboundFlush(YamuxStream stream)
    {
        if (!stream.InboundFlushPending)
        {
            stream.InboundFlushPending = true;
            deferredInbound.Add(stream);
        }
    }

    /// <summary>Flushes the streams that got data in this read batch, in the order they first got it; their readers run
    /// here, one after another.</summary>
    private void FlushDeferredInbound()
    {
        for (int i = 0; i < deferredInbound.Count; i++)
        {
            var stream = deferredInbound[i];
            stream.InboundFlushPending = false;
            stream.FlushInbound();
        }

        deferredInbound.Clear();
    }

    private void FinishPayload()
    {
        var stream = payloadStream;
        bool fin = payloadFin;
        payloadStream = null;
        payloadFin = false;
        if (fin)
        {
            stream?.OnRemoteFin();
        }
    }

    private void HandleStreamFrame(in YamuxFrameHeader header)
    {
        YamuxStream? stream = header.Has(YamuxFlags.Syn) ? OnRemoteOpen(header.StreamId) : FindStream(header);
        bool isData = header.Type == YamuxFrameType.Data;
        if (stream is null || header.Has(YamuxFlags.Rst))
        {
            stream?.OnRemoteReset();
            if (isData)
            {
                SkipPayload(header.Length);
            }

            return;
        }

        if (!isData)
        {
            stream.AddSendWindow(header.Length);
            if (header.Has(YamuxFlags.Fin))
            {
                stream.OnRemoteFin();
            }

            return;
        }

        stream.OnDataHeader(header.Length);
        payloadStream = stream;
        payloadFin = header.Has(YamuxFlags.Fin);
        payloadRemaining = header.Length;
        if (header.Length == 0)
        {
            FinishPayload();
        }
    }

    private void SkipPayload(uint length)
    {
        payloadStream = null;
        payloadFin = false;
        payloadRemaining = length;
    }

    private YamuxStream? FindStream(in YamuxFrameHeader header)
    {
        uint id = header.StreamId;
        lock (streamsGate)
        {
            if (streams.TryGetValue(id, out var stream))
            {
                return stream;
            }

            bool neverOpened = IsLocalStreamId(id) ? id >= nextLocalStreamId : id > highestRemoteStreamId;
            if (neverOpened)
            {
                throw new YamuxProtocolException($"{header.Type} frame for stream {id}, which was never opened");
            }
        }

        // A stream that ended recently: the remote may not know yet. Its frames are dropped, as go-yamux and
        // js-libp2p yamux do.
        Log.FrameForClosedStream(logger, header);
        return null;
    }

    private YamuxStream? OnRemoteOpen(uint id)
    {
        if (IsLocalStreamId(id))
        {
            throw new YamuxProtocolException($"remote opened stream {id}, whose id parity belongs to this side");
        }

        YamuxStream stream;
        string? refusal = null;
        lock (streamsGate)
        {
            // Concurrent opens may put SYNs on the wire out of id order (go-yamux does), so only a live id is a
            // duplicate.
            if (streams.ContainsKey(id))
            {
                throw new YamuxProtocolException($"remote opened stream {id}, which is already open");
            }

            highestRemoteStreamId = Math.Max(highestRemoteStreamId, id);
            if (localGoAway || endReason is not null)
            {
                refusal = "session is closing";
            }
            else if (inboundCount >= Options.MaxInboundStreams)
            {
                refusal = $"inbound stream limit of {Options.MaxInboundStreams} reached";
            }
            else if (Memory is not null && !Memory.TryReserveMemory(Options.InitialStreamWindowSize))
            {
                refusal = $"no memory for its receive window in {Memory.Name}";
            }

            if (refusal is not null)
            {
                stream = null!;
            }
            else
            {
                stream = new YamuxStream(this, id, Direction.Inbound, Memory is null ? 0 : Options.InitialStreamWindowSize);
                streams.Add(id, stream);
                inboundCount++;
            }
        }

        if (refusal is not null)
        {
            Refuse(id, refusal);
            return null;
        }

        if (!acceptQueue.Writer.TryWrite(stream))
        {
            stream.Abandon();
            Refuse(id, $"accept backlog of {Options.AcceptBacklog} is full");
            return null;
        }

        EnqueueControl(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Ack, id, stream.AnnouncedWindowExtra));
        return stream;
    }

    private void Refuse(uint id, string reason)
    {
        Log.InboundStreamRefused(logger, id, reason);
        EnqueueControl(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Rst, id, 0));
    }

    private void HandleGoAway(in YamuxFrameHeader header)
    {
        var code = (GoAwayCode)header.Length;
        Log.GoAwayReceived(logger, code);
        if (code == GoAwayCode.Normal)
        {
            lock (streamsGate)
            {
                remoteGoAway = true;
            }

            return;
        }

        string what = code switch
        {
            GoAwayCode.ProtocolError => "a protocol error",
            GoAwayCode.InternalError => "an internal error",
            _ => $"unknown code {header.Length}",
        };
        throw new MuxerClosedException($"remote yamux session went away with {what}");
    }
}
