using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using P2PStack.IO;
using P2PStack.Network;

namespace P2PStack.Privacy.Padding.Tests;

/// <summary>The filter over an in-memory byte pipe: round trips, and what a malicious remote can send.</summary>
public class PaddedPipeTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    internal static PaddingFilter Filter(Action<PaddingOptions>? configure = null, PaddingMetrics? metrics = null)
    {
        var options = new PaddingOptions();
        configure?.Invoke(options);
        return new PaddingFilter(Options.Create(options), metrics ?? new PaddingMetrics(null));
    }

    [Fact]
    public async Task Data_round_trips_both_ways_in_whole_cells()
    {
        var (a, b) = DuplexPipe.CreatePair();
        var tapped = new TappedPipe(a);
        await using var left = Filter().Apply(tapped, Direction.Outbound);
        await using var right = Filter().Apply(b, Direction.Inbound);

        byte[] one = RandomNumberGenerator.GetBytes(200_000);
        byte[] two = RandomNumberGenerator.GetBytes(3);
        var fromLeft = SendAsync(left.Output, one);
        var fromRight = SendAsync(right.Output, two);
        Assert.Equal(one, await ReadAllAsync(right.Input).WaitAsync(Patience));
        Assert.Equal(two, await ReadAllAsync(left.Input).WaitAsync(Patience));
        await Task.WhenAll(fromLeft, fromRight).WaitAsync(Patience);

        // What left wrote under the filter: the hello, then cells of 1024 or 16384 bytes only.
        var written = tapped.Written.ToArray();
        int offset = PaddingWire.HelloSize;
        int cells = 0;
        while (offset < written.Length)
        {
            int size = written[offset] == 0 ? 1024 : written[offset] == 1 ? 16384 : throw new Xunit.Sdk.XunitException("bad index");
            offset += size;
            cells++;
        }
        Assert.Equal(written.Length, offset);
        Assert.True(cells >= 200_000 / 16381);
    }

    [Fact]
    public async Task A_malformed_cell_fails_the_input_with_the_typed_error_and_is_counted()
    {
        var metrics = new PaddingMetrics(null);
        var (a, b) = DuplexPipe.CreatePair();
        await using var victim = Filter(metrics: metrics).Apply(a, Direction.Inbound);

        // The attacker speaks raw bytes: a valid hello, then a cell announcing more payload than it holds.
        var hello = new byte[PaddingWire.HelloSize];
        PaddingWire.WriteHello(hello, [1024, 16384]);
        await b.Output.WriteAsync(hello);
        var cell = new byte[1024];
        cell[0] = 0;
        cell[1] = 0x04; // 1024 > 1021
        await b.Output.WriteAsync(cell);

        var error = await Assert.ThrowsAsync<PaddingFormatException>(() => ReadAllAsync(victim.Input).WaitAsync(Patience));
        Assert.Contains("announces", error.Message);
        Assert.Equal(1, metrics.MalformedFrames);
    }

    [Theory]
    [InlineData(new byte[] { 7, 0, 0 }, "index")]
    [InlineData(new byte[] { 0, 0, 5 }, "ended inside")]
    public async Task Bad_size_indexes_and_truncated_cells_are_refused(byte[] tail, string why)
    {
        var metrics = new PaddingMetrics(null);
        var (a, b) = DuplexPipe.CreatePair();
        await using var victim = Filter(metrics: metrics).Apply(a, Direction.Inbound);
        var hello = new byte[PaddingWire.HelloSize];
        PaddingWire.WriteHello(hello, [1024, 16384]);
        await b.Output.WriteAsync(hello);
        await b.Output.WriteAsync(tail);
        await b.Output.CompleteAsync();
        var error = await Assert.ThrowsAsync<PaddingFormatException>(() => ReadAllAsync(victim.Input).WaitAsync(Patience));
        Assert.Contains(why, error.Message);
        Assert.Equal(1, metrics.MalformedFrames);
    }

    [Fact]
    public async Task A_malformed_hello_is_refused_and_counted()
    {
        var metrics = new PaddingMetrics(null);
        var (a, b) = DuplexPipe.CreatePair();
        await using var victim = Filter(metrics: metrics).Apply(a, Direction.Inbound);
        await b.Output.WriteAsync(new byte[PaddingWire.HelloSize]); // version 0
        await Assert.ThrowsAsync<PaddingFormatException>(() => ReadAllAsync(victim.Input).WaitAsync(Patience));
        Assert.Equal(1, metrics.MalformedFrames);
    }

    [Fact]
    public async Task No_common_cell_size_fails_both_ends()
    {
        var metrics = new PaddingMetrics(null);
        var (a, b) = DuplexPipe.CreatePair();
        await using var left = Filter(o => { o.CellSizes.Clear(); o.CellSizes.Add(512); }, metrics).Apply(a, Direction.Outbound);
        await using var right = Filter(o => { o.CellSizes.Clear(); o.CellSizes.Add(2048); }, metrics).Apply(b, Direction.Inbound);
        await Assert.ThrowsAsync<PaddingNegotiationException>(() => ReadAllAsync(left.Input).WaitAsync(Patience));
        await Assert.ThrowsAsync<PaddingNegotiationException>(() => ReadAllAsync(right.Input).WaitAsync(Patience));
        // The second end may see the first one's error before it reads the hello itself.
        Assert.InRange(metrics.NegotiationFailures, 1, 2);
    }

    [Fact]
    public async Task A_remote_that_never_says_hello_times_out()
    {
        var metrics = new PaddingMetrics(null);
        var (a, b) = DuplexPipe.CreatePair();
        await using var victim = Filter(o => o.HelloTimeout = TimeSpan.FromMilliseconds(200), metrics).Apply(a, Direction.Outbound);
        var writeFailure = SendAsync(victim.Output, [1, 2, 3]);
        // The send side gives up and closes the connection under it with the negotiation error.
        var read = await b.Input.ReadAsync().AsTask().WaitAsync(Patience); // the hello
        b.Input.AdvanceTo(read.Buffer.End);
        await Assert.ThrowsAsync<PaddingNegotiationException>(async () =>
        {
            while (true)
            {
                var r = await b.Input.ReadAsync().AsTask().WaitAsync(Patience);
                b.Input.AdvanceTo(r.Buffer.End);
                if (r.IsCompleted) return;
            }
        });
        Assert.Equal(1, metrics.NegotiationFailures);
        await writeFailure.WaitAsync(Patience).ContinueWith(_ => { });
    }

    [Fact]
    public async Task Cover_cells_flow_on_an_idle_pipe_and_are_dropped_by_the_receiver()
    {
        var metrics = new PaddingMetrics(null);
        var (a, b) = DuplexPipe.CreatePair();
        await using var left = Filter(o => { o.Cover = CoverTraffic.Poisson; o.CoverRate = 200; }, metrics).Apply(a, Direction.Outbound);
        await using var right = Filter().Apply(b, Direction.Inbound);
        var deadline = DateTime.UtcNow + Patience;
        while (metrics.CoverCellsSent < 10 && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.True(metrics.CoverCellsSent >= 10);
        await SendAsync(left.Output, [42]);
        var result = await right.Input.ReadAsync().AsTask().WaitAsync(Patience);
        Assert.Equal([42], result.Buffer.ToArray());
    }

    [Fact]
    public void Cover_rate_is_held_to_the_budget()
    {
        var options = new PaddingOptions { Cover = CoverTraffic.Constant, CoverRate = 1000, CoverBudgetBytesPerSecond = 10_240 };
        var (a, _) = DuplexPipe.CreatePair();
        var pipe = new PaddedPipe(a, options, new PaddingMetrics(null), Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, TimeProvider.System);
        Assert.Equal(10, pipe.EffectiveCoverRate(1024));
        Assert.Equal(0, new PaddedPipe(a, new PaddingOptions(), new PaddingMetrics(null),
            Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, TimeProvider.System).EffectiveCoverRate(1024));
    }

    [Fact]
    public void Invalid_options_are_refused_at_construction()
    {
        Assert.Throws<ArgumentException>(() => Filter(o => o.CellSizes.Add(100)));
        Assert.Throws<ArgumentException>(() => Filter(o => o.CellSizes.Clear()));
        Assert.Throws<ArgumentOutOfRangeException>(() => Filter(o => o.CoverRate = 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => Filter(o => o.MaxJitter = TimeSpan.FromSeconds(-1)));
    }

    private static async Task SendAsync(PipeWriter output, byte[] data)
    {
        for (int offset = 0; offset < data.Length; offset += 7000)
            await output.WriteAsync(data.AsMemory(offset, Math.Min(7000, data.Length - offset)));
        await output.CompleteAsync();
    }

    internal static async Task<byte[]> ReadAllAsync(PipeReader input)
    {
        var received = new MemoryStream();
        while (true)
        {
            var result = await input.ReadAsync();
            foreach (var segment in result.Buffer) received.Write(segment.Span);
            input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted) return received.ToArray();
        }
    }

    /// <summary>Records what is written under the filter.</summary>
    private sealed class TappedPipe(IDuplexPipe inner) : IDuplexPipe
    {
        private readonly TapWriter _tap = new(inner.Output);

        public MemoryStream Written => _tap.Written;

        public PipeReader Input => inner.Input;

        public PipeWriter Output => _tap;

        private sealed class TapWriter(PipeWriter inner) : PipeWriter
        {
            private Memory<byte> _last;

            public MemoryStream Written { get; } = new();

            public override void Advance(int bytes)
            {
                lock (Written) Written.Write(_last.Span[..bytes]);
                inner.Advance(bytes);
            }

            public override Memory<byte> GetMemory(int sizeHint = 0) => _last = inner.GetMemory(sizeHint);

            public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

            public override void CancelPendingFlush() => inner.CancelPendingFlush();

            public override void Complete(Exception? exception = null) => inner.Complete(exception);

            public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

            public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);
        }
    }
}
