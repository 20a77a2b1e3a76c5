using P2PStack.Network;

namespace P2PStack.Muxers.Yamux;

/// <summary>Closing: a graceful close that drains the streams first, dispose, and the one shutdown both lead to.</summary>
public sealed partial class YamuxSession
{
    /// <summary>Refuses new streams (ours throw, the remote's are reset), waits until every open stream has finished,
    /// then sends go-away and closes the connection. Cancelling stops the wait only; dispose the session to cut it.</summary>
    public async ValueTask CloseAsync(CancellationToken cancellationToken)
    {
        Task wait;
        lock (streamsGate)
        {
            if (endReason is not null)
            {
                wait = Task.CompletedTask;
            }
            else
            {
                localGoAway = true;
                drained ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                if (streams.Count == 0)
                {
                    drained.TrySetResult();
                }

                wait = drained.Task;
            }
        }

        // The go-away goes out only once the open streams have finished: js-libp2p yamux treats a go-away as the end
        // of the session and silently drops every open stream, so an early one would stall the drain.
        await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        await BeginShutdown(new MuxerClosedException("yamux session closed"), GoAwayCode.Normal).ConfigureAwait(false);
    }

    /// <summary>Ends the session now: go-away, every stream fails, the connection closes.</summary>
    public async ValueTask DisposeAsync()
    {
        await BeginShutdown(new MuxerClosedException("yamux session disposed"), GoAwayCode.Normal).ConfigureAwait(false);
    }

    /// <summary>Starts ending the session once; later calls return the same task. Never awaited from the loops
    /// themselves (shutdown waits for them).</summary>
    private Task BeginShutdown(Exception reason, GoAwayCode? goAway)
    {
        lock (streamsGate)
        {
            if (shutdown is not null)
            {
                return shutdown;
            }

            endReason = reason;
            shutdown = ShutdownAsync(reason, goAway);
            return shutdown;
        }
    }

    private async Task ShutdownAsync(Exception reason, GoAwayCode? goAway)
    {
        await Task.Yield(); // run outside the caller's locks and loops
        try
        {
            await ShutdownCoreAsync(reason, goAway).ConfigureAwait(false);
            completion.TrySetResult();
        }
        catch (Exception ex)
        {
            Log.InternalError(logger, ex);
            completion.TrySetException(ex);
        }
    }

    private async Task ShutdownCoreAsync(Exception reason, GoAwayCode? goAway)
    {
        if (reason is YamuxProtocolException)
        {
            Log.ProtocolViolation(logger, reason.Message);
        }
        else
        {
            Log.SessionEnded(logger, reason.Message);
        }

        YamuxStream[] ended;
        lock (streamsGate)
        {
            ended = [.. streams.Values];
            streams.Clear();
            inboundCount = outboundCount = 0;
            drained?.TrySetResult();
        }

        foreach (var stream in ended)
        {
            stream.OnSessionEnded(reason);
        }

        acceptQueue.Writer.TryComplete();
        FailPendingPings(reason);
        lifetime.Cancel();
        connection.Input.CancelPendingRead();

        if (goAway is { } code)
        {
            SendGoAwayOnce(code);
        }

        control.Writer.TryComplete();
        try
        {
            await writeLoop.WaitAsync(Options.CloseTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            outputClosing = true;
            connection.Output.CancelPendingFlush();
        }

        await CloseOutputAsync().ConfigureAwait(false);
        await readLoop.ConfigureAwait(false);
        await keepAliveLoop.ConfigureAwait(false);
        if (onClosed is not null)
        {
            try
            {
                await onClosed().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                Log.OnClosedFailed(logger, ex);
            }
        }
    }
}
