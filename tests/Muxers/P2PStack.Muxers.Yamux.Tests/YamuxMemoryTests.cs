using System.Security.Cryptography;
using P2PStack.IO;
using P2PStack.Network;
using P2PStack.Testing;

namespace P2PStack.Muxers.Yamux.Tests;

/// <summary>Stream windows reserved in the connection's resource scope: refused streams, bounded growth, release.</summary>
public sealed class YamuxMemoryTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private const int Window = YamuxOptions.SpecInitialWindow;

    [Fact]
    public async Task Each_stream_reserves_its_window_and_a_full_scope_refuses_streams_both_ways()
    {
        var dialerScope = new CountingScope(2L * Window);
        var listenerScope = new CountingScope(2L * Window);
        var (a, b) = DuplexPipe.CreatePair();
        var options = new YamuxOptions { EnableKeepAlive = false };
        await using var dialer = new YamuxSession(a, Direction.Outbound, options, memory: dialerScope);
        await using var listener = new YamuxSession(b, Direction.Inbound, options, memory: listenerScope);

        var first = await dialer.OpenStreamAsync(CancellationToken.None);
        var second = await dialer.OpenStreamAsync(CancellationToken.None);
        Assert.Equal(2L * Window, dialerScope.Used);
        // This side's own opens fail with the scope's typed refusal, before any frame is sent.
        await Assert.ThrowsAsync<ResourceLimitExceededException>(() => dialer.OpenStreamAsync(CancellationToken.None).AsTask());

        var accepted = await listener.AcceptStreamAsync(CancellationToken.None).AsTask().WaitAsync(Timeout);
        var acceptedSecond = await listener.AcceptStreamAsync(CancellationToken.None).AsTask().WaitAsync(Timeout);
        Assert.Equal(2L * Window, listenerScope.Used);

        // The remote's third stream finds the listener's scope full: its SYN is answered with RST.
        dialerScope.Limit = 3L * Window;
        var third = await dialer.OpenStreamAsync(CancellationToken.None);
        await Assert.ThrowsAsync<StreamResetException>(async () =>
        {
            // The RST may come back before this write (a test thread descheduled under load): then the write fails.
            await third.Output.WriteAsync(new byte[] { 1 });
            await third.Input.ReadAsync().AsTask().WaitAsync(Timeout);
        });
        Assert.Equal(2L * Window, listenerScope.Used);

        // Closed streams return their windows on both sides (a graceful close once both halves are closed).
        first.Reset();
        await second.DisposeAsync();
        await acceptedSecond.DisposeAsync();
        await WaitUntilAsync(() => dialerScope.Used == 0 && listenerScope.Used == 0);
        await dialer.DisposeAsync();
        await listener.DisposeAsync();
        Assert.Equal(0, dialerScope.Used);
        Assert.Equal(0, listenerScope.Used);
    }

    [Fact]
    public async Task Window_growth_asks_at_half_priority_and_stops_at_half_the_scope()
    {
        var scope = new CountingScope(4L * Window);
        var (a, b) = DuplexPipe.CreatePair();
        // A clock that is never advanced: every window is consumed "within four round trips", so each update asks to
        // grow. On the real clock the test depended on timing: a warm in-memory ping takes a few microseconds, and a
        // window read slower than four of those is never grown (CI failed with "growth was never asked for").
        var options = new YamuxOptions { EnableKeepAlive = false, Clock = new ManualClock() };
        await using var sender = new YamuxSession(a, Direction.Outbound, options);
        await using var receiver = new YamuxSession(b, Direction.Inbound, options, memory: scope);
        await receiver.PingAsync(CancellationToken.None).AsTask().WaitAsync(Timeout); // a round trip: growth may start

        var payload = RandomNumberGenerator.GetBytes(16 << 20);
        var stream = await sender.OpenStreamAsync(CancellationToken.None);
        var send = Task.Run(async () =>
        {
            await stream.Output.WriteAsync(payload);
            await stream.Output.CompleteAsync();
        });
        var accepted = await receiver.AcceptStreamAsync(CancellationToken.None).AsTask().WaitAsync(Timeout);
        long received = 0;
        while (true)
        {
            var result = await accepted.Input.ReadAsync().AsTask().WaitAsync(Timeout);
            received += result.Buffer.Length;
            accepted.Input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted) break;
        }
        await send.WaitAsync(Timeout);
        Assert.Equal(payload.Length, received);
        // Growth (priority 128) doubled the window once, to half of the scope's limit, and was refused after that.
        Assert.Equal(1, scope.Grants);
        Assert.True(scope.LowPriorityRefusals >= 1, "growth was not asked for past half of the scope");
        Assert.Equal(2L * Window, scope.Peak);

        await accepted.DisposeAsync();
        await stream.DisposeAsync();
        await receiver.DisposeAsync();
        Assert.Equal(0, scope.Used);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the condition did not come true");
            await Task.Delay(20);
        }
    }

    /// <summary>A scope with one memory limit and go-libp2p's priority rule, counting what it hands out.</summary>
    private sealed class CountingScope(long limit) : IResourceScope
    {
        private readonly Lock _gate = new();
        private long _used;

        public long Limit { get; set; } = limit;

        public long Peak { get; private set; }

        public int Grants { get; private set; }

        public int LowPriorityRefusals { get; private set; }

        public long Used
        {
            get
            {
                lock (_gate) return _used;
            }
        }

        public string Name => "connection test";

        public ResourceUsage Usage => new(0, 0, 0, 0, Used);

        public void ReserveMemory(long bytes, byte priority = 255)
        {
            if (!TryReserveMemory(bytes, priority)) throw new ResourceLimitExceededException(Name, "memory", Used, bytes, Limit);
        }

        public bool TryReserveMemory(long bytes, byte priority = 255)
        {
            lock (_gate)
            {
                long ceiling = priority == 255 ? Limit : Limit * (priority + 1) / 256;
                if (_used + bytes > ceiling)
                {
                    if (priority < 255) LowPriorityRefusals++;
                    return false;
                }
                if (priority < 255) Grants++;
                _used += bytes;
                Peak = Math.Max(Peak, _used);
                return true;
            }
        }

        public void ReleaseMemory(long bytes)
        {
            lock (_gate)
            {
                _used -= bytes;
                Assert.True(_used >= 0, "released more than was reserved");
            }
        }
    }
}
