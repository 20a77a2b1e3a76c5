using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net.Sockets;
using System.Security.Authentication;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Protocols.GossipSub;
using P2PStack.Protocols.Ping;

namespace P2PStack.Simulation;

/// <summary>Settings of <see cref="ChurnSoak"/>.</summary>
public sealed class ChurnSoakOptions
{
    /// <summary>Waves after the warm-up wave; each opens <see cref="ConnectionsPerWave"/> connections and closes them.</summary>
    public int Waves { get; set; } = 20;

    public int ConnectionsPerWave { get; set; } = 50;

    /// <summary>Ping streams each client opens (each a stream negotiated with multistream-select).</summary>
    public int PingsPerConnection { get; set; } = 2;

    /// <summary>Messages the node publishes on the soak topic in each wave (clients publish one each too).</summary>
    public int MessagesPerWave { get; set; } = 5;

    /// <summary>The node's host options (limits): a connection limit below <see cref="ConnectionsPerWave"/> makes the node
    /// refuse some connections in every wave, which the soak counts by reason.</summary>
    public Action<HostOptions>? Node { get; set; }

    /// <summary>Where the node listens, e.g. <c>/memory/0</c> or <c>/ip4/127.0.0.1/tcp/0</c>.</summary>
    public string ListenAddress { get; set; } = "/memory/0";

    /// <summary>Adds the transport (and what it needs) to a host's services; required.</summary>
    public Action<IServiceCollection, IP2PBuilder>? Transport { get; set; }

    /// <summary>Hang guard: the longest one wave, or the release of the node's resources after the run, may take.</summary>
    public TimeSpan Patience { get; set; } = TimeSpan.FromMinutes(2);
}

/// <summary>
/// What the process holds at one moment, after a full garbage collection: managed heap, open handles (file
/// descriptors on Linux), threads, active timers, queued thread-pool work, the node's connections and peers, what
/// its resource manager counts in the system scope (connections, streams, reserved memory) and the node's tasks
/// (<see cref="PeerHost.BackgroundWorkCount"/>: accept loops, upgrades, connection runs, stream handlers, module work).
/// </summary>
public sealed record ResourceSnapshot(long ManagedBytes, int Handles, int Threads, long Timers, long PendingWorkItems, int Connections,
    int PeerStorePeers, ResourceUsage Reserved = default, int HostTasks = 0)
{
    public double ManagedMiB => ManagedBytes / (1024.0 * 1024.0);

    public override string ToString() =>
        $"managed heap {ManagedMiB:F1} MiB, handles {Handles}, threads {Threads}, timers {Timers}, queued work {PendingWorkItems}, " +
        $"node tasks {HostTasks}, " +
        $"connections {Connections}, peer store {PeerStorePeers} peers; resource manager: {Reserved.Connections} connections, " +
        $"{Reserved.Streams} streams, {Reserved.Memory / 1024} KiB reserved";
}

/// <summary>Figures of a soak run.</summary>
/// <param name="Opened">Dials that returned a connection (the node may still refuse it right after its handshake).</param>
/// <param name="Errors">Errors seen by clients and logged by the hosts, by exception type.</param>
/// <param name="NodeRefusals">Inbound connections the node refused, by the reason label of p2pstack_inbound_refused_total.</param>
/// <param name="NodeRefusalReasons">The same refusals by the reason the node logged, which names the limit (for
/// <c>resource_limit</c>: the resource manager's scope, resource, usage and limit, e.g. "system connections 40/40").</param>
/// <param name="UntypedErrors">Errors of types outside the documented ones, and refusals labelled "other" (a bug each).</param>
/// <param name="UntypedSamples">The first untyped errors with their stack traces.</param>
public sealed record ChurnSoakResult(int Attempted, int Opened, int Refused, long Pings, long MessagesDelivered, IReadOnlyDictionary<string, int> Errors,
    IReadOnlyDictionary<string, long> NodeRefusals, int UntypedErrors, IReadOnlyList<string> UntypedSamples, ResourceSnapshot Before,
    ResourceSnapshot Peak, ResourceSnapshot After, TimeSpan Elapsed, IReadOnlyDictionary<string, long>? NodeRefusalReasons = null)
{
    public override string ToString() =>
        $"{Attempted} connections attempted in waves, {Opened} dials succeeded, {Refused} failed; {Pings} pings, {MessagesDelivered} messages delivered to the node; " +
        $"node refusals {(NodeRefusals.Count == 0 ? "none" : string.Join(", ", NodeRefusals.Select(e => $"{e.Key} x{e.Value}")))}" +
        (NodeRefusalReasons is { Count: > 0 } reasons ? $" ({string.Join("; ", reasons.Select(e => $"\"{e.Key}\" x{e.Value}"))})" : "") + "; " +
        $"errors {(Errors.Count == 0 ? "none" : string.Join(", ", Errors.Select(e => $"{e.Key} x{e.Value}")))}, untyped {UntypedErrors}; {Elapsed.TotalSeconds:F0} s\n" +
        $"  before: {Before}\n  peak:   {Peak}\n  after:  {After}" + string.Concat(UntypedSamples.Select(e => "\n  untyped: " + e));
}

/// <summary>
/// The soak and churn test of issue 18: one node (Noise, Yamux, Identify, Ping, GossipSub) takes waves of
/// connections from new peers, each opening ping streams and publishing on a topic while the node publishes too, then
/// closing. Resources are measured after a warm-up wave and again after the run once the node has released every
/// connection, so growth that survives the churn shows.
/// </summary>
public static class ChurnSoak
{
    public const string Topic = "soak";

    public static async Task<ChurnSoakResult> RunAsync(ChurnSoakOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var transport = options.Transport ?? throw new ArgumentException("a transport is required", nameof(options));
        var errors = new ErrorTally();
        var started = Stopwatch.StartNew();
        using var refusals = new RefusalListener();
        var refusalReasons = new RefusalReasons();
        await using var node = await StartAsync(transport, options.ListenAddress, errors, options.Node, cancellationToken, refusalReasons)
            .ConfigureAwait(false);
        var host = node.GetRequiredService<PeerHost>();
        var pubsub = node.GetRequiredService<GossipSubService>();
        long delivered = 0;
        var subscription = await pubsub.SubscribeAsync(Topic, cancellationToken).ConfigureAwait(false);
        var draining = Task.Run(async () =>
        {
            await foreach (var _ in subscription.Reader.ReadAllAsync(CancellationToken.None).ConfigureAwait(false)) Interlocked.Increment(ref delivered);
        }, CancellationToken.None);
        var address = host.ListenAddresses[0].Encapsulate($"/p2p/{host.PeerId}");

        var counts = new WaveCounts();
        // The warm-up wave loads code and fills pools; what the process holds after it is the baseline.
        await WaveAsync(options, transport, address, host, pubsub, errors, new WaveCounts(), cancellationToken).ConfigureAwait(false);
        await WaitForNoConnectionsAsync(host, options.Patience, cancellationToken).ConfigureAwait(false);
        errors.Clear();
        refusals.Clear();
        refusalReasons.Clear();
        var before = Snapshot(host);
        for (int wave = 0; wave < options.Waves; wave++)
            await WaveAsync(options, transport, address, host, pubsub, errors, counts, cancellationToken).ConfigureAwait(false);
        await WaitForNoConnectionsAsync(host, options.Patience, cancellationToken, before.HostTasks).ConfigureAwait(false);
        var after = Snapshot(host);
        subscription.Dispose();
        await draining.WaitAsync(options.Patience, cancellationToken).ConfigureAwait(false);
        var refused = refusals.ByReason();
        int untyped = errors.Untyped + (int)refused.GetValueOrDefault("other");
        return new ChurnSoakResult(counts.Attempted, counts.Opened, counts.Refused, counts.Pings, Interlocked.Read(ref delivered),
            errors.ByType(), refused, untyped, errors.UntypedSamples, before, counts.Peak ?? before, after, started.Elapsed, refusalReasons.ByReason());
    }

    private static async Task WaveAsync(ChurnSoakOptions options, Action<IServiceCollection, IP2PBuilder> transport, Multiaddr target,
        PeerHost node, GossipSubService nodePubSub, ErrorTally errors, WaveCounts counts, CancellationToken cancellationToken)
    {
        using var guard = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        guard.CancelAfter(options.Patience);
        // Every client of the wave holds its connection until all have dialled, so the wave's connections are open at
        // once (and a connection limit below the wave size refuses some).
        var dialled = new Barrier(options.ConnectionsPerWave, node, counts);
        var clients = Enumerable.Range(0, options.ConnectionsPerWave)
            .Select(_ => ClientAsync(options, transport, target, dialled, errors, counts, guard.Token)).ToList();
        for (int m = 0; m < options.MessagesPerWave; m++)
        {
            try
            {
                await nodePubSub.PublishAsync(Topic, BitConverter.GetBytes(Random.Shared.NextInt64()), guard.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                errors.Add(e);
            }
        }
        await Task.WhenAll(clients).ConfigureAwait(false);
    }

    private static async Task ClientAsync(ChurnSoakOptions options, Action<IServiceCollection, IP2PBuilder> transport, Multiaddr target,
        Barrier dialled, ErrorTally errors, WaveCounts counts, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref counts.Attempted);
        await using var client = await StartAsync(transport, options.ListenAddress, errors, null, cancellationToken).ConfigureAwait(false);
        IConnection connection;
        try
        {
            connection = await client.GetRequiredService<PeerHost>().DialAsync(target, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            Interlocked.Increment(ref counts.Refused);
            errors.Add(e);
            dialled.Arrive();
            return;
        }
        Interlocked.Increment(ref counts.Opened);
        dialled.Arrive();
        try
        {
            await dialled.WaitAsync(cancellationToken).ConfigureAwait(false);
            var pings = await client.GetRequiredService<PingService>().PingAsync(connection.RemotePeer, options.PingsPerConnection, cancellationToken)
                .ConfigureAwait(false);
            Interlocked.Add(ref counts.Pings, pings.Count);
            var pubsub = client.GetRequiredService<GossipSubService>();
            using var subscription = await pubsub.SubscribeAsync(Topic, cancellationToken).ConfigureAwait(false);
            await pubsub.PublishAsync(Topic, BitConverter.GetBytes(Random.Shared.NextInt64()), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            // The node may close a connection it cannot keep (limits, trimming) while streams run on it.
            errors.Add(e);
        }
    }

    private static async Task<ServiceProvider> StartAsync(Action<IServiceCollection, IP2PBuilder> transport, string listen, ErrorTally errors,
        Action<HostOptions>? host, CancellationToken cancellationToken, RefusalReasons? refusalReasons = null)
    {
        var services = new ServiceCollection();
        services.AddSingleton<ILoggerProvider>(new ErrorLoggerProvider(errors));
        if (refusalReasons is not null)
        {
            // The refusal line is a debug line; only this provider hears the host's debug lines (the error count does not change).
            services.AddSingleton<ILoggerProvider>(new RefusalLoggerProvider(refusalReasons));
            services.Configure<LoggerFilterOptions>(o => o.AddFilter<RefusalLoggerProvider>(typeof(PeerHost).FullName, LogLevel.Debug));
        }
        services.AddP2PStack(p2p =>
        {
            p2p.WithIdentity(PrivateKey.Generate());
            p2p.ListenOn(listen);
            transport(services, p2p);
            p2p.AddNoise();
            p2p.AddYamux();
            p2p.AddIdentify();
            p2p.AddPing();
            p2p.AddGossipSub();
            if (host is not null) p2p.ConfigureHost(host);
        });
        var provider = services.BuildServiceProvider();
        try
        {
            await provider.GetRequiredService<PeerHost>().StartAsync(cancellationToken).ConfigureAwait(false);
            foreach (var hosted in provider.GetServices<IHostedService>()) await hosted.StartAsync(cancellationToken).ConfigureAwait(false);
            provider.GetRequiredService<GossipSubService>();
            return provider;
        }
        catch
        {
            await provider.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Waits until the node holds no connection, its resource manager counts nothing and (when given) it runs
    /// no more tasks than <paramref name="tasksAtMost"/>: a reservation that outlives its connection or stream, or a
    /// handler or loop that outlives its connection, is a leak, reported by the timeout.</summary>
    private static async Task WaitForNoConnectionsAsync(PeerHost host, TimeSpan patience, CancellationToken cancellationToken,
        int tasksAtMost = int.MaxValue)
    {
        var deadline = Stopwatch.StartNew();
        while (host.GetConnections().Count > 0 || !Reserved(host).IsZero || host.BackgroundWorkCount > tasksAtMost)
        {
            if (deadline.Elapsed > patience)
                throw new TimeoutException($"the node still holds {host.GetConnections().Count} connections, runs {host.BackgroundWorkCount} tasks "
                    + $"(at most {tasksAtMost} expected) and its resource manager counts {Reserved(host)} {patience} after its peers left");
            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>What the process holds now; after a full, compacting collection unless <paramref name="collect"/> is false.</summary>
    public static ResourceSnapshot Snapshot(PeerHost host, bool collect = true)
    {
        ArgumentNullException.ThrowIfNull(host);
        if (collect)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
            GC.WaitForPendingFinalizers();
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        }
        using var process = Process.GetCurrentProcess();
        int handles = OperatingSystem.IsLinux() ? Directory.GetFileSystemEntries("/proc/self/fd").Length : process.HandleCount;
        return new ResourceSnapshot(GC.GetTotalMemory(forceFullCollection: false), handles, process.Threads.Count, Timer.ActiveCount,
            ThreadPool.PendingWorkItemCount, host.GetConnections().Count, host.PeerStore.Peers.Count, Reserved(host), host.BackgroundWorkCount);
    }

    /// <summary>What the node's resource manager counts apart from the peer store, a cache that keeps the peers it saw
    /// after they leave (its size is reported on its own, as peers): connections, streams, windows and queues.</summary>
    public static ResourceUsage Reserved(PeerHost host)
    {
        ArgumentNullException.ThrowIfNull(host);
        var usage = host.Resources.System.Usage;
        return usage with { Memory = usage.Memory - host.Resources.Service(InMemoryPeerStore.ResourceService).Usage.Memory };
    }

    private sealed class WaveCounts
    {
        public int Attempted;
        public int Opened;
        public int Refused;
        public long Pings;

        /// <summary>The snapshot (without collection) with the largest heap, taken when a wave had all dialled.</summary>
        public ResourceSnapshot? Peak;
    }

    /// <summary>Completes once every client of a wave has dialled (or failed to); the last to arrive samples the peak.</summary>
    private sealed class Barrier(int count, PeerHost node, WaveCounts counts)
    {
        private readonly TaskCompletionSource _all = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _remaining = count;

        public void Arrive()
        {
            if (Interlocked.Decrement(ref _remaining) != 0) return;
            var now = Snapshot(node, collect: false);
            lock (counts)
            {
                if (counts.Peak is null || now.ManagedBytes > counts.Peak.ManagedBytes) counts.Peak = now;
            }
            _all.TrySetResult();
        }

        public Task WaitAsync(CancellationToken cancellationToken) => _all.Task.WaitAsync(cancellationToken);
    }

    /// <summary>The node's p2pstack_inbound_refused_total, by reason (only the node accepts inbound connections here).</summary>
    private sealed class RefusalListener : IDisposable
    {
        private readonly MeterListener _listener = new();
        private readonly ConcurrentDictionary<string, long> _byReason = new();

        public RefusalListener()
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Name == "p2pstack_inbound_refused_total") listener.EnableMeasurementEvents(instrument);
            };
            _listener.SetMeasurementEventCallback<long>((_, value, tags, _) =>
            {
                string reason = "unknown";
                foreach (var tag in tags)
                {
                    if (tag.Key == "reason") reason = tag.Value?.ToString() ?? "unknown";
                }
                _byReason.AddOrUpdate(reason, value, (_, n) => n + value);
            });
            _listener.Start();
        }

        public void Clear() => _byReason.Clear();

        public IReadOnlyDictionary<string, long> ByReason() => new SortedDictionary<string, long>(_byReason, StringComparer.Ordinal);

        public void Dispose() => _listener.Dispose();
    }

    /// <summary>The node's inbound refusals by the reason it logged with each ("Inbound connection from {Address}
    /// refused: {Reason}"): the metric's label says <c>resource_limit</c>, the reason which scope and limit.</summary>
    private sealed class RefusalReasons
    {
        private const string RefusalEvent = "LogInboundRefused";
        private readonly ConcurrentDictionary<string, long> _byReason = new();

        public void Observe<TState>(EventId eventId, TState state)
        {
            if (eventId.Name != RefusalEvent || state is not IReadOnlyList<KeyValuePair<string, object?>> fields) return;
            foreach (var field in fields)
            {
                if (field.Key == "Reason") _byReason.AddOrUpdate(field.Value?.ToString() ?? "", 1, (_, n) => n + 1);
            }
        }

        public void Clear() => _byReason.Clear();

        public IReadOnlyDictionary<string, long> ByReason() => new SortedDictionary<string, long>(_byReason, StringComparer.Ordinal);
    }

    /// <summary>Errors by exception type; those outside the documented types also counted as untyped.</summary>
    private sealed class ErrorTally
    {
        private readonly ConcurrentDictionary<string, int> _byType = new();
        private int _untyped;

        public int Untyped => Volatile.Read(ref _untyped);

        public void Add(Exception error)
        {
            // Dial failures wrap what each attempt met: count that.
            if (error is DialFailedException { Attempts.Count: > 0 } dial && dial.Attempts[0].Error is { } inner) error = inner;
            _byType.AddOrUpdate(error.GetType().Name, 1, (_, n) => n + 1);
            if (IsTyped(error)) return;
            Interlocked.Increment(ref _untyped);
            lock (_samples)
            {
                if (_samples.Count < 4) _samples.Add(error.ToString());
            }
        }

        private readonly List<string> _samples = [];

        /// <summary>The first untyped errors, with their stack traces.</summary>
        public IReadOnlyList<string> UntypedSamples
        {
            get { lock (_samples) return [.. _samples]; }
        }

        public void Clear()
        {
            lock (_samples) _samples.Clear();
            _byType.Clear();
            Volatile.Write(ref _untyped, 0);
        }

        public IReadOnlyDictionary<string, int> ByType() => new SortedDictionary<string, int>(_byType, StringComparer.Ordinal);

        /// <summary>The errors the stack documents for refused or broken peers and connections.</summary>
        private static bool IsTyped(Exception error) => error is ResourceLimitExceededException or P2PFormatException or IOException
            or OperationCanceledException or AuthenticationException or ConnectionGatedException or DialFailedException
            or ProtocolNotSupportedException or TimeoutException or SocketException;
    }

    /// <summary>Hears the node's refusal lines for <see cref="RefusalReasons"/>.</summary>
    private sealed class RefusalLoggerProvider(RefusalReasons reasons) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new RefusalLogger(reasons);

        public void Dispose()
        {
        }

        private sealed class RefusalLogger(RefusalReasons reasons) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                reasons.Observe(eventId, state);
        }
    }

    /// <summary>Counts every exception a host logs (at the levels the host's logging lets through).</summary>
    private sealed class ErrorLoggerProvider(ErrorTally errors) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new ErrorLogger(errors);

        public void Dispose()
        {
        }

        private sealed class ErrorLogger(ErrorTally errors) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (exception is not null) errors.Add(exception);
            }
        }
    }
}
