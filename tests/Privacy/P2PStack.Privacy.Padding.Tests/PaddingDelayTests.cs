using System.Buffers;
using System.IO.Pipelines;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using P2PStack.IO;
using P2PStack.Network;
using P2PStack.Testing;

namespace P2PStack.Privacy.Padding.Tests;

/// <summary>Timing jitter and batching (docs/specs/padding.md) on a manual clock: a burst waits BatchDelay plus a
/// uniform jitter of at most MaxJitter, and what the application writes during the wait leaves with it in one burst.
/// The clock moves only when the test advances it, so nothing here depends on the machine's speed.</summary>
public class PaddingDelayTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan BatchDelay = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan MaxJitter = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan Step = TimeSpan.FromMilliseconds(1);

    [Fact]
    public async Task Each_burst_waits_the_batch_delay_plus_a_jitter_within_the_bound()
    {
        var clock = new ManualClock(DateTimeOffset.UnixEpoch);
        var metrics = new PaddingMetrics(null);
        var (a, b) = DuplexPipe.CreatePair();
        await using var left = Filter(clock, metrics).Apply(a, Direction.Outbound);
        await using var right = new PaddingFilter(Options.Create(new PaddingOptions()), new PaddingMetrics(null)).Apply(b, Direction.Inbound);

        var delays = new List<TimeSpan>();
        for (int burst = 0; burst < 24; burst++)
        {
            await left.Output.WriteAsync(new byte[] { (byte)burst });
            await WaitForTimerAsync(clock);
            // Move the clock a millisecond at a time until the burst's delay fires (its timer leaves the clock).
            var waited = TimeSpan.Zero;
            while (clock.PendingTimers > 0)
            {
                Assert.True(waited <= BatchDelay + MaxJitter, $"burst {burst} still waiting after {waited}");
                Assert.Equal(burst, metrics.DataCellsSent);
                clock.Advance(Step);
                waited += Step;
            }
            Assert.InRange(waited, BatchDelay, BatchDelay + MaxJitter);
            delays.Add(waited);
            Assert.Equal(new[] { (byte)burst }, await ReadAsync(right.Input, 1).WaitAsync(Patience));
            Assert.Equal(burst + 1, metrics.DataCellsSent);
        }
        // The jitter is there: 24 draws, uniform over 100 ms, are not all the same millisecond.
        Assert.True(delays.Distinct().Count() > 1, "every burst waited exactly the same time: no jitter");
    }

    [Fact]
    public async Task Writes_made_during_the_wait_leave_in_one_burst()
    {
        var clock = new ManualClock(DateTimeOffset.UnixEpoch);
        var metrics = new PaddingMetrics(null);
        var (a, b) = DuplexPipe.CreatePair();
        await using var left = Filter(clock, metrics).Apply(a, Direction.Outbound);
        await using var right = new PaddingFilter(Options.Create(new PaddingOptions()), new PaddingMetrics(null)).Apply(b, Direction.Inbound);

        await left.Output.WriteAsync("first "u8.ToArray());
        await WaitForTimerAsync(clock);
        // The send pump now waits; these flushes land in its pipe before the clock moves.
        await left.Output.WriteAsync("second "u8.ToArray());
        await left.Output.WriteAsync("third"u8.ToArray());
        Assert.Equal(0, metrics.DataCellsSent);

        clock.Advance(BatchDelay + MaxJitter);
        Assert.Equal("first second third"u8.ToArray(), await ReadAsync(right.Input, 18).WaitAsync(Patience));
        // One data cell (18 bytes fit the smallest), and no second delay armed for left-overs.
        Assert.Equal(1, metrics.DataCellsSent);
        Assert.Equal(18, metrics.PayloadBytesSent);
        Assert.Equal(0, clock.PendingTimers);
    }

    [Fact]
    public async Task Every_cover_event_due_on_an_idle_link_sends_a_cell_even_when_several_come_due_at_once()
    {
        // Constant cover at 10/s; the clock moves 150 ms at a time, so every other step two events come due together
        // (a late timer catching up). Each is an idle interval and sends its cell. A single "cover due" flag sent one
        // cell for the two.
        var clock = new ManualClock(DateTimeOffset.UnixEpoch);
        var metrics = new PaddingMetrics(null);
        var (a, b) = DuplexPipe.CreatePair();
        var options = new PaddingOptions { Cover = CoverTraffic.Constant, CoverRate = 10, CoverBudgetBytesPerSecond = 1 << 20 };
        await using var left = new PaddingFilter(Options.Create(options), metrics, NullLogger<PaddingFilter>.Instance, clock).Apply(a, Direction.Outbound);
        await using var right = new PaddingFilter(Options.Create(new PaddingOptions()), new PaddingMetrics(null)).Apply(b, Direction.Inbound);

        await WaitForTimerAsync(clock); // the cover schedule runs once the hellos are exchanged
        var step = TimeSpan.FromMilliseconds(150);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        for (int i = 1; i <= 20; i++)
        {
            clock.Advance(step);
            // The events due by now: one per 100 ms. Wait until the send pump has sent them (a hang guard, no timing).
            int due = i * 150 / 100;
            while (metrics.CoverCellsSent < due && DateTime.UtcNow < deadline) await Task.Delay(1);
            Assert.True(metrics.CoverCellsSent == due, $"after {i * 150} ms: {metrics.CoverCellsSent} cover cells, {due} events due");
        }
        Assert.Equal(30, metrics.CoverCellsSent);
        Assert.Equal(0, metrics.DataCellsSent);
    }

    private static PaddingFilter Filter(ManualClock clock, PaddingMetrics metrics) =>
        new(Options.Create(new PaddingOptions { BatchDelay = BatchDelay, MaxJitter = MaxJitter }), metrics,
            NullLogger<PaddingFilter>.Instance, clock);

    // The send pump arms its delay once it has read the burst (after the hello exchange): a hang guard, no timing.
    private static async Task WaitForTimerAsync(ManualClock clock)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (clock.PendingTimers == 0)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the padding send pump never armed its delay");
            await Task.Delay(5);
        }
    }

    private static async Task<byte[]> ReadAsync(PipeReader input, int count)
    {
        while (true)
        {
            var result = await input.ReadAsync();
            if (result.Buffer.Length >= count)
            {
                byte[] data = result.Buffer.Slice(0, count).ToArray();
                input.AdvanceTo(result.Buffer.GetPosition(count));
                return data;
            }
            input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            if (result.IsCompleted) throw new EndOfStreamException();
        }
    }
}
