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
/// All state is declared here; the behaviour is split by concern: streams (<c>YamuxSession.Streams.cs</c>), reading
/// (<c>.Reading.cs</c>), writing (<c>.Writing.cs</c>), pings and keepalive (<c>.Ping.cs</c>), closing
/// (<c>.Shutdown.cs</c>). Everything it needs comes through its constructor.
/// </summary>
public sealed partial class YamuxSession : IMuxerSession
{
    private readonly IDuplexPipe connection;
    private readonly Func<ValueTask>? onClosed;
    private readonly ILogger logger;
    private readonly CancellationTokenSource lifetime = new();
    private readonly TaskCompletionSource completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task readLoop;
    private readonly Task writeLoop;
    private readonly Task keepAliveLoop;

    // Streams and the session's state, under streamsGate.
    private readonly Lock streamsGate = new();
    private readonly Dictionary<uint, YamuxStream> streams = [];
    private readonly Channel<YamuxStream> acceptQueue;
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

    // Reading (the read loop only): the data frame being received, delivered as it arrives, so a frame larger than
    // the connection's buffering never stalls the read loop.
    private long payloadRemaining;
    private YamuxStream? payloadStream;
    private bool payloadFin;
    private readonly List<YamuxStream> deferredInbound = [];

    // Writing: data frames under writeLock; control frames queued for the writer loop, bounded through pendingControl
    // (the read loop waits for controlDrained when too many are queued).
    private readonly Channel<YamuxFrameHeader> control;
    private readonly SemaphoreSlim writeLock = new(1, 1);
    private readonly SemaphoreSlim controlDrained = new(0, int.MaxValue);
    private int pendingControl;
    private int readLoopWaitingForDrain;
    private volatile bool outputClosing;

    // Pings: outstanding pings by id, and the last measured round trip.
    private readonly Dictionary<uint, TaskCompletionSource> pendingPings = [];
    private uint lastPingId;
    private long rttTicks;

    /// <summary>Starts a session: the read, write and keepalive loops run until the session ends.</summary>
    /// <param name="connection">The secured connection; the session owns both its ends.</param>
    /// <param name="direction">Outbound = the dialer (yamux client, odd stream ids); Inbound = the listener.</param>
    /// <param name="onClosed">Called once after the connection's pipes are completed, to dispose the connection.</param>
    /// <param name="memory">The connection's resource scope: each stream reserves its receive window there (refused
    /// streams are reset, or throw when opened here) and window growth asks for more at half priority.</param>
    public YamuxSession(IDuplexPipe connection, Direction direction, YamuxOptions options, ILogger? logger = null,
        Func<ValueTask>? onClosed = null, IResourceScope? memory = null)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        this.connection = connection;
        this.onClosed = onClosed;
        Memory = memory;
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
        // The three loop fields are set before any loop runs: a connection that ends at once makes the read loop
        // start the shutdown, which awaits all three (Task.Run here let it see a field still null).
        var read = new Task<Task>(ReadLoopAsync);
        var write = new Task<Task>(WriteLoopAsync);
        var keepAlive = new Task<Task>(KeepAliveLoopAsync);
        readLoop = read.Unwrap();
        writeLoop = write.Unwrap();
        keepAliveLoop = keepAlive.Unwrap();
        read.Start(TaskScheduler.Default);
        write.Start(TaskScheduler.Default);
        keepAlive.Start(TaskScheduler.Default);
    }

    public YamuxOptions Options { get; }

    /// <summary>Where stream windows are reserved (null: not accounted).</summary>
    internal IResourceScope? Memory { get; }

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
}
