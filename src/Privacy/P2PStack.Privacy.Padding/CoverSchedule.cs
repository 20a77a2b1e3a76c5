using System.Security.Cryptography;

namespace P2PStack.Privacy.Padding;

/// <summary>
/// The process that times cover cells: events at a constant rate or at the events of a Poisson process of that rate
/// (exponential gaps drawn from a CSPRNG). The schedule is absolute: an event whose timer fired late (timer
/// granularity, a busy thread pool) still counts, and events already due then fire at once, so late timers do not
/// lower the rate. Events more than <see cref="MaxLag"/> overdue (a stalled machine) are skipped, never sent in a
/// burst: after a stall the next event fires at once and the schedule resumes from there, so the rate is an upper
/// bound. Used by padded connections (<c>/synaptic/padding/1.0.0</c>) and by onion circuit links.
/// </summary>
public sealed class CoverSchedule
{
    /// <param name="mode">Constant or Poisson.</param>
    /// <param name="rate">Mean events per second, in (0, 1000].</param>
    /// <param name="maxLag">How overdue an event may be and still fire (default
    /// <see cref="PaddingOptions.DefaultCoverMaxLag"/>); events overdue by more are skipped.</param>
    public CoverSchedule(CoverTraffic mode, double rate, TimeSpan? maxLag = null)
    {
        if (mode == CoverTraffic.None) throw new ArgumentOutOfRangeException(nameof(mode), "a cover schedule needs a process");
        if (!(rate > 0 && rate <= 1000)) throw new ArgumentOutOfRangeException(nameof(rate), rate, "cover rate must be in (0, 1000] events/s");
        MaxLag = maxLag ?? PaddingOptions.DefaultCoverMaxLag;
        if (MaxLag < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(maxLag), MaxLag, "the lag bound cannot be negative");
        Mode = mode;
        Rate = rate;
    }

    public CoverTraffic Mode { get; }

    /// <summary>Mean events per second.</summary>
    public double Rate { get; }

    /// <summary>How overdue an event may be and still fire; events overdue by more (a stall) are skipped.</summary>
    public TimeSpan MaxLag { get; }

    /// <summary>The events of one <see cref="MaxLag"/> at the mean rate (rounded up) plus the one due on time: what a
    /// consumer keeps pending when it falls behind the schedule; beyond it, events are dropped, as in a stall.</summary>
    public int MaxPending => (int)Math.Ceiling(MaxLag.TotalSeconds * Rate) + 1;

    /// <summary>The constant gap, 1/<see cref="Rate"/>, rounded to whole ticks so that schedules do not drift.</summary>
    public TimeSpan Interval => TimeSpan.FromTicks(Math.Max(1, (long)Math.Round(TimeSpan.TicksPerSecond / Rate)));

    /// <summary>
    /// The schedule for cells of <paramref name="cellSize"/> bytes: <paramref name="mode"/> at
    /// min(<paramref name="rate"/>, <paramref name="budgetBytesPerSecond"/> / <paramref name="cellSize"/>); null
    /// without cover.
    /// </summary>
    public static CoverSchedule? For(CoverTraffic mode, double rate, int budgetBytesPerSecond, int cellSize, TimeSpan? maxLag = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(cellSize);
        if (mode == CoverTraffic.None) return null;
        return new CoverSchedule(mode, Math.Min(rate, (double)budgetBytesPerSecond / cellSize), maxLag);
    }

    /// <summary>The gap before the next event.</summary>
    public TimeSpan NextGap() => Mode == CoverTraffic.Poisson
        ? TimeSpan.FromTicks(Math.Max(1, (long)Math.Round(-Math.Log(1 - NextUniform()) * TimeSpan.TicksPerSecond / Rate)))
        : Interval;

    /// <summary>
    /// Calls <paramref name="onEvent"/> at each event until <paramref name="cancellationToken"/> is cancelled (then
    /// returns normally). <paramref name="onEvent"/> runs to completion before the next event is timed.
    /// </summary>
    public async Task RunAsync(TimeProvider time, Func<CancellationToken, ValueTask> onEvent, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(onEvent);
        long start = time.GetTimestamp();
        var next = TimeSpan.Zero;
        try
        {
            while (true)
            {
                next += NextGap();
                var now = time.GetElapsedTime(start);
                // Overdue by a late timer: fire now and keep the schedule (resetting it to now at every late timer
                // would lose the lateness each time: a Poisson process at 100/s whose timers fire up to 20 ms late
                // ran at ~70/s). Overdue by more than MaxLag: a stall, skip what was missed.
                if (now - next > MaxLag) next = now;
                if (next > now) await Task.Delay(next - now, time, cancellationToken).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                await onEvent(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>Uniform in [0, 1) from the system CSPRNG: cover and jitter timing must not be predictable.</summary>
    internal static double NextUniform()
    {
        Span<byte> bytes = stackalloc byte[8];
        RandomNumberGenerator.Fill(bytes);
        return (BitConverter.ToUInt64(bytes) >> 11) * (1.0 / (1UL << 53));
    }
}
