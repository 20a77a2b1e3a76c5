using P2PStack.IO;
using P2PStack.Network;

namespace P2PStack.Muxers.Yamux.Tests;

/// <summary>A stream's send buffer, beyond its first 4 KiB, is reserved in the connection's resource scope when it
/// grows and released when the buffer goes back to the pool; a scope that refuses fails the write with a typed error
/// naming the stream's send buffer.</summary>
public sealed class YamuxSendBufferMemoryTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private const int Window = YamuxOptions.SpecInitialWindow;
    private const int Allowance = YamuxStreamWriter.MinimumBufferSize;

    [Fact]
    public async Task Buffered_bytes_beyond_4_KiB_are_reserved_and_a_full_scope_refuses_them_with_a_typed_error()
    {
        var scope = new LimitedScope(Window + 128 * 1024);
        var (a, b) = DuplexPipe.CreatePair();
        var options = new YamuxOptions { EnableKeepAlive = false };
        await using var dialer = new YamuxSession(a, Direction.Outbound, options, memory: scope);
        await using var listener = new YamuxSession(b, Direction.Inbound, options);
        var stream = await dialer.OpenStreamAsync(CancellationToken.None);
        Assert.Equal(Window, scope.Used);

        // Small messages stay within the stream's first 4 KiB: nothing more is reserved.
        stream.Output.GetSpan(100)[..100].Fill(1);
        stream.Output.Advance(100);
        Assert.Equal(Window, scope.Used);

        // 64 KiB written without a flush: the grown buffer's capacity beyond 4 KiB counts in the scope.
        stream.Output.GetSpan(64 * 1024)[..(64 * 1024)].Fill(2);
        stream.Output.Advance(64 * 1024);
        long grown = scope.Used - Window;
        Assert.InRange(grown, 64 * 1024 + 100 - Allowance, 128 * 1024);

        // More than the scope has left: refused, typed, naming the send buffer; nothing more counted.
        var refusal = Assert.Throws<ResourceLimitExceededException>(() => stream.Output.GetSpan(256 * 1024));
        Assert.Contains($"send buffer of yamux stream {stream.Id}", refusal.Message);
        Assert.Equal("connection test", refusal.Scope);
        Assert.Equal(Window + grown, scope.Used);

        // The stream still works: what was buffered goes out, the buffer (and its reservation) stays for reuse.
        await stream.Output.FlushAsync().AsTask().WaitAsync(Timeout);
        var accepted = await listener.AcceptStreamAsync(CancellationToken.None).AsTask().WaitAsync(Timeout);
        long received = 0;
        while (received < 64 * 1024 + 100)
        {
            var result = await accepted.Input.ReadAsync().AsTask().WaitAsync(Timeout);
            received += result.Buffer.Length;
            accepted.Input.AdvanceTo(result.Buffer.End);
        }
        Assert.Equal(64 * 1024 + 100, received);
        Assert.Equal(Window + grown, scope.Used);

        // Closing returns the buffer and its reservation; the window goes once both halves are closed.
        await stream.DisposeAsync();
        await accepted.DisposeAsync();
        await WaitUntilAsync(() => scope.Used == 0);
    }

    [Fact]
    public async Task A_close_waiting_for_a_peer_that_grants_no_window_holds_its_reservation_until_the_stream_ends()
    {
        var scope = new LimitedScope(long.MaxValue);
        var (a, b) = DuplexPipe.CreatePair();
        var options = new YamuxOptions { EnableKeepAlive = false };
        var dialer = new YamuxSession(a, Direction.Outbound, options, memory: scope);
        await using var listener = new YamuxSession(b, Direction.Inbound, options);
        var stream = await dialer.OpenStreamAsync(CancellationToken.None);

        // More than the peer's window, buffered, then a synchronous Complete: the close flushes in the background and
        // waits for window the listener (which never reads) does not grant.
        const int size = Window + 64 * 1024;
        stream.Output.GetSpan(size)[..size].Fill(3);
        stream.Output.Advance(size);
        stream.Output.Complete();
        Assert.InRange(scope.Used - Window, size - Allowance, 2L * size);

        // The session's end fails the waiting flush: the buffer goes back and the scope is empty.
        await dialer.DisposeAsync();
        await WaitUntilAsync(() => scope.Used == 0);
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

    /// <summary>A scope with one memory limit that refuses as the resource manager does.</summary>
    private sealed class LimitedScope(long limit) : IResourceScope
    {
        private long _used;

        public long Used => Interlocked.Read(ref _used);

        public string Name => "connection test";

        public ResourceUsage Usage => new(0, 0, 0, 0, Used);

        public void ReserveMemory(long bytes, byte priority = 255)
        {
            if (!TryReserveMemory(bytes, priority)) throw new ResourceLimitExceededException(Name, "memory", Used, bytes, limit);
        }

        public bool TryReserveMemory(long bytes, byte priority = 255)
        {
            while (true)
            {
                long used = Used;
                long ceiling = priority == 255 ? limit : limit / 256 * (priority + 1);
                if (used + bytes > ceiling) return false;
                if (Interlocked.CompareExchange(ref _used, used + bytes, used) == used) return true;
            }
        }

        public void ReleaseMemory(long bytes) => Assert.True(Interlocked.Add(ref _used, -bytes) >= 0, "released more than was reserved");
    }
}
