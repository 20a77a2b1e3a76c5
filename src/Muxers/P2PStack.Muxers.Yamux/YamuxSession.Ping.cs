using P2PStack.Network;

namespace P2PStack.Muxers.Yamux;

/// <summary>Pings: round-trip measurement, answering the remote's pings, the keepalive loop.</summary>
public sealed partial class YamuxSession
{
    /// <summary>Round-trip time of the last answered ping (measured at start and at every keepalive), or null.</summary>
    public TimeSpan? RoundTripTime
    {
        get
        {
            long ticks = Interlocked.Read(ref rttTicks);
            return ticks > 0 ? Options.Clock.GetElapsedTime(0, ticks) : null;
        }
    }

    /// <summary>Ticks (of <see cref="YamuxOptions.Clock"/>) of the last measured round trip; 0 until one is known.
    /// Drives window auto-tuning.</summary>
    internal long RoundTripTicks => Interlocked.Read(ref rttTicks);

    /// <summary>Sends a ping and waits for the pong; returns the round-trip time.</summary>
    /// <exception cref="MuxerClosedException">The session ended first.</exception>
    public async ValueTask<TimeSpan> PingAsync(CancellationToken cancellationToken)
    {
        var pong = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        uint id;
        lock (pendingPings)
        {
            if (endReason is not null)
            {
                throw new MuxerClosedException("yamux session has ended", endReason);
            }

            id = ++lastPingId;
            pendingPings[id] = pong;
        }

        long start = Options.Clock.GetTimestamp();
        try
        {
            EnqueueControl(new YamuxFrameHeader(YamuxFrameType.Ping, YamuxFlags.Syn, 0, id));
            await pong.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            long elapsed = Math.Max(1, Options.Clock.GetTimestamp() - start);
            Interlocked.Exchange(ref rttTicks, elapsed);
            return Options.Clock.GetElapsedTime(0, elapsed);
        }
        finally
        {
            lock (pendingPings)
            {
                pendingPings.Remove(id);
            }
        }
    }

    private void HandlePing(in YamuxFrameHeader header)
    {
        if (header.Has(YamuxFlags.Syn))
        {
            EnqueueControl(new YamuxFrameHeader(YamuxFrameType.Ping, YamuxFlags.Ack, 0, header.Length));
        }
        else if (header.Has(YamuxFlags.Ack))
        {
            TaskCompletionSource? pong;
            lock (pendingPings)
            {
                pendingPings.Remove(header.Length, out pong);
            }

            pong?.TrySetResult(); // an unsolicited pong is harmless and ignored
        }
    }

    private void FailPendingPings(Exception reason)
    {
        TaskCompletionSource[] pongs;
        lock (pendingPings)
        {
            pongs = [.. pendingPings.Values];
            pendingPings.Clear();
        }

        foreach (var pong in pongs)
        {
            pong.TrySetException(new MuxerClosedException("yamux session has ended", reason));
        }
    }

    /// <summary>Measures the round trip at start (for window auto-tuning), then pings every keepalive interval;
    /// a pong missing for <see cref="YamuxOptions.PingTimeout"/> ends the session.</summary>
    private async Task KeepAliveLoopAsync()
    {
        var token = lifetime.Token;
        try
        {
            while (true)
            {
                // The timeout cancels the ping itself (rather than abandoning it with WaitAsync), so that no ping task
                // is left to fail unobserved when the session ends.
                using var deadline = CancellationTokenSource.CreateLinkedTokenSource(token);
                deadline.CancelAfter(Options.PingTimeout);
                try
                {
                    await PingAsync(deadline.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!token.IsCancellationRequested)
                {
                    if (Options.EnableKeepAlive)
                    {
                        Log.KeepAliveTimeout(logger, Options.PingTimeout);
                        _ = BeginShutdown(new MuxerClosedException("yamux keepalive ping timed out"), GoAwayCode.InternalError);
                        return;
                    }
                }

                if (!Options.EnableKeepAlive)
                {
                    return;
                }

                await Task.Delay(Options.KeepAliveInterval, token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
        catch (MuxerClosedException)
        {
        }
    }
}
