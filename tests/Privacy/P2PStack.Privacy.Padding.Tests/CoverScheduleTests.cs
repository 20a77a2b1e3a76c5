using P2PStack.Testing;

namespace P2PStack.Privacy.Padding.Tests;

/// <summary>The cover process shared by padded connections and onion circuit links: its rate under the budget, its
/// gaps, and no catch-up burst after a stall (on a manual clock).</summary>
public class CoverScheduleTests
{
    [Fact]
    public void The_rate_is_the_configured_one_lowered_to_the_budget_for_the_cell_size()
    {
        Assert.Null(CoverSchedule.For(CoverTraffic.None, 10, 1 << 20, 514));
        Assert.Equal(10, CoverSchedule.For(CoverTraffic.Constant, 10, 1 << 20, 514)!.Rate);
        var budgeted = CoverSchedule.For(CoverTraffic.Poisson, 50, 10 * 514, 514)!;
        Assert.Equal(10, budgeted.Rate, 9);
        Assert.Equal(CoverTraffic.Poisson, budgeted.Mode);
        Assert.Equal(TimeSpan.FromMilliseconds(100), budgeted.Interval);
        Assert.Throws<ArgumentOutOfRangeException>(() => new CoverSchedule(CoverTraffic.Constant, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CoverSchedule(CoverTraffic.None, 1));
    }

    [Fact]
    public void The_policy_gives_circuit_links_their_schedule_only_when_it_pads_them_and_cover_is_on()
    {
        static PaddingPolicy Policy(Action<PaddingOptions> configure)
        {
            var options = new PaddingOptions();
            configure(options);
            return new PaddingPolicy(Microsoft.Extensions.Options.Options.Create(options), new PaddingMetrics(null));
        }

        Assert.Null(Policy(_ => { }).Cover(PaddingScope.CircuitLink, 514)); // cover is off by default
        var policy = Policy(o =>
        {
            o.Cover = CoverTraffic.Constant;
            o.CoverRate = 4;
        });
        Assert.Equal(4, policy.Cover(PaddingScope.CircuitLink, 514)!.Rate);
        Assert.Null(policy.Cover(PaddingScope.Other, 514)); // other connections are not padded by default
        Assert.Null(Policy(o =>
        {
            o.Cover = CoverTraffic.Constant;
            o.OnCircuitLinks = false;
        }).Cover(PaddingScope.CircuitLink, 514));
    }

    [Fact]
    public void Poisson_gaps_average_the_inverse_rate_and_vary()
    {
        var schedule = new CoverSchedule(CoverTraffic.Poisson, 20);
        var gaps = Enumerable.Range(0, 20_000).Select(_ => schedule.NextGap().TotalSeconds).ToList();
        // The mean of 20,000 exponential gaps has a standard deviation of 0.7 % of the mean: 5 % is 7 sigma.
        Assert.InRange(gaps.Average(), 0.05 * 0.95, 0.05 * 1.05);
        Assert.True(gaps.Distinct().Count() > 19_000);
        Assert.All(Enumerable.Range(0, 100), _ => Assert.Equal(TimeSpan.FromMilliseconds(50), new CoverSchedule(CoverTraffic.Constant, 20).NextGap()));
    }

    [Fact]
    public async Task Events_come_one_per_interval_and_a_stall_is_skipped_not_made_up()
    {
        var clock = new ManualClock(DateTimeOffset.UnixEpoch);
        var schedule = new CoverSchedule(CoverTraffic.Constant, 10);
        int events = 0;
        using var stop = new CancellationTokenSource();
        var running = schedule.RunAsync(clock, _ =>
        {
            Interlocked.Increment(ref events);
            return ValueTask.CompletedTask;
        }, stop.Token);

        for (int i = 1; i <= 3; i++)
        {
            clock.Advance(schedule.Interval);
            await WaitForAsync(() => Volatile.Read(ref events) == i);
        }
        // A stall of ten intervals: one late event and the schedule resumes from there, no burst of ten.
        clock.Advance(10 * schedule.Interval);
        await WaitForAsync(() => Volatile.Read(ref events) >= 5);
        clock.Advance(schedule.Interval);
        await WaitForAsync(() => Volatile.Read(ref events) >= 6);
        await stop.CancelAsync();
        await running.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(6, events);
    }

    [Theory]
    [InlineData(CoverTraffic.Poisson, 20)]
    [InlineData(CoverTraffic.Constant, 25)]
    public async Task Late_timers_do_not_lower_the_rate(CoverTraffic mode, int lateMs)
    {
        // Timers that fire up to lateMs late (a busy machine: the paced benchmark measured a Poisson process at
        // 100/s sending ~68 cells/s when every late timer reset the schedule). The clock moves in steps of lateMs,
        // so every event fires at the end of the step it falls in: up to lateMs late, never more than MaxLag.
        var clock = new ManualClock(DateTimeOffset.UnixEpoch);
        var schedule = new CoverSchedule(mode, 100);
        int events = 0;
        using var stop = new CancellationTokenSource();
        var running = schedule.RunAsync(clock, _ =>
        {
            Interlocked.Increment(ref events);
            return ValueTask.CompletedTask;
        }, stop.Token);

        var step = TimeSpan.FromMilliseconds(lateMs);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        int steps = 20_000 / lateMs; // 20 s of schedule: 2,000 events at 100/s
        for (int i = 0; i < steps; i++)
        {
            while (clock.PendingTimers != 1)
            {
                Assert.True(DateTime.UtcNow < deadline, "the schedule never armed its next timer");
                Thread.Yield();
            }
            clock.Advance(step);
        }
        while (clock.PendingTimers != 1 && DateTime.UtcNow < deadline) Thread.Yield();
        await stop.CancelAsync();
        await running.WaitAsync(TimeSpan.FromSeconds(30));

        // Constant: exactly 2,000 (the last one may be pending). Poisson: a count of mean 2,000 has a standard
        // deviation of 45, so ±10 % is 4.5 sigma; resetting the schedule at every late timer gave ~1,400.
        if (mode == CoverTraffic.Constant) Assert.InRange(events, 1999, 2000);
        else Assert.InRange(events, 1800, 2200);
    }

    [Fact]
    public void The_lag_bound_caps_the_events_kept_pending()
    {
        Assert.Equal(PaddingOptions.DefaultCoverMaxLag, new CoverSchedule(CoverTraffic.Poisson, 10).MaxLag);
        Assert.Equal(21, new CoverSchedule(CoverTraffic.Poisson, 100).MaxPending); // 200 ms at 100/s, plus one
        Assert.Equal(2, new CoverSchedule(CoverTraffic.Constant, 2).MaxPending);
        Assert.Equal(1, new CoverSchedule(CoverTraffic.Constant, 100, TimeSpan.Zero).MaxPending);
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        using var budget = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (!condition()) await Task.Delay(5, budget.Token);
    }
}
