using System.IO.Pipelines;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PStack.Network;

namespace P2PStack.Muxers.Yamux;

/// <summary>
/// A yamux (/yamux/1.0.0) session over a secured connection. One read loop parses frames and feeds per-stream pipes;
/// data frames are written by the sending stream under the session write lock; control frames (window updates,
/// pongs, resets, go-away) go through one writer loop so the read loop never waits on the connection.
/// </summary>
public sealed partial class YamuxSession : IMuxerSession
{
    private readonly IDuplexPipe connection;
    private readonly Func<ValueTask>? onClosed;
    private readonly ILogger logger;
    private readonly Lock streamsGate = new();
    private readonly Dictionary<uint, YamuxStream> streams = [];
    private readonly Channel<YamuxStream> acceptQueue;
    private readonly CancellationTokenSource lifetime = new();
    private readonly TaskCompletionSource completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task readLoop;
    private readonly Task writeLoop;
    private readonly Task keepAliveLoop;

    private uint nextLocalStreamId;
    private uint highestRemoteStreamId;
    private int inboundCount;
    private int outboundCount;
    private bool localGoAway;
    private bool remoteGoAway;
    private bool goAwaySent;
    private Exception? endReason;
    private Task? shutdown;
    private TaskCompletionSource? drained;

    /// <summary>Starts a session: the read, write and keepalive loops run until the session ends.</summary>
    /// <param name="connection">The secured connection; the session owns both its ends.</param>
    /// <param name="direction">Outbound = the dialer (yamux client, odd stream ids); Inbound = the listener.</param>
    /// <param name="onClosed">Called once after the connection's pipes are completed, to dispose the connection.</param>
    public YamuxSession(IDuplexPipe connection, Direction direction, YamuxOptions options, ILogger? logger = null,
        Func<ValueTask>? onClosed = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        this.connection = connection;
        this.onClosed = onClosed;
        this.logger = logger ?? NullLogger.Instance;
        Options = options;
        Direction = direction;
        nextLocalStreamId = direction == Direction.Outbound ? 1u : 2u;
        acceptQueue = Channel.CreateBounded<YamuxStream>(new BoundedChannelOptions(options.AcceptBacklog)
        {
            SingleWriter = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        control = Channel.CreateUnbounded<YamuxFrameHeader>(new UnboundedChannelOptions { SingleReader = true });
        readLoop = Task.Run(ReadLoopAsync);
        writeLoop = Task.Run(WriteLoopAsync);
        keepAliveLoop = Task.Run(KeepAliveLoopAsync);
    }

    public YamuxOptions Options { get; }

    public Direction Direction { get; }

    public int StreamCount
    {
        get
        {
            lock (streamsGate)
            {
                return streams.Count;
            }
        }
    }

    public Task Completion => completion.Task;

    internal ILogger Logger => logger;

    internal CancellationToken Lifetime => lifetime.Token;

    private bool IsLocalStreamId(uint id) => (id & 1) == (nextLocalStreamId & 1);

    public async ValueTask<IMuxedStream> OpenStreamAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        YamuxStream stream;
        lock (streamsGate)
        {
            if (endReason is not null)
            {
                throw new MuxerClosedException("yamux session has ended", endReason);
            }

            if (localGoAway || remoteGoAway)
            {
                throw new MuxerClosedException(localGoAway ? "yamux session is closing" : "remote yamux session is going away");
            }

            if (outboundCount >= Options.MaxOutboundStreams)
            {
                throw new ResourceLimitExceededException("yamux session", "outbound streams", Options.MaxOutboundStreams);
            }

            if (nextLocalStreamId > uint.MaxValue - 2)
            {
                throw new MuxerClosedException("yamux stream ids are exhausted on this session");
            }

            stream = new YamuxStream(this, nextLocalStreamId, Direction.Outbound);
            nextLocalStreamId += 2;
            streams.Add(stream.StreamId, stream);
            outboundCount++;
        }

        bool written = false;
        try
        {
            await WriteFrameAsync(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, stream.StreamId,
                stream.AnnouncedWindowExtra), () => written = true, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            if (written)
            {
                stream.Reset();
            }
            else
            {
                stream.Abandon();
            }

            throw;
        }

        return stream;
    }

    public async ValueTask<IMuxedStream> AcceptStreamAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await acceptQueue.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            throw new MuxerClosedException("yamux session has ended", endReason);
        }
    }

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

    internal void RemoveStream(YamuxStream stream)
    {
        lock (streamsGate)
        {
            if (!streams.Remove(stream.StreamId, out var existing))
            {
                return;
            }

            if (!ReferenceEquals(existing, stream))
            {
                streams.Add(existing.StreamId, existing);
                return;
            }

            if (stream.Direction == Direction.Outbound)
            {
                outboundCount--;
            }
            else
            {
                inboundCount--;
            }

            if (streams.Count == 0)
            {
                drained?.TrySetResult();
            }
        }
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
