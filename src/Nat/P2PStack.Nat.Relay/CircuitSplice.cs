using System.Buffers;
using System.IO.Pipelines;
using P2PStack.Network;

namespace P2PStack.Nat.Relay;

/// <summary>How a relayed connection ended.</summary>
public enum CircuitEnd
{
    /// <summary>Both ends closed their write side.</summary>
    Done,
    DurationLimit,
    DataLimit,
    /// <summary>One end reset or failed; the other was reset too.</summary>
    Reset,
}

/// <summary>
/// Joins the hop stream of the initiator and the stop stream of the target into one relayed connection: bytes are
/// copied both ways (a half-close crosses over), each direction is cut at the data limit, the whole at the duration
/// limit; a limit or a reset of one end resets both (the spec's rule).
/// </summary>
internal static class CircuitSplice
{
    public static async Task<CircuitEnd> RunAsync(IStream initiator, IStream target, RelayLimit limit, Action<long> relayed,
        CancellationToken cancellationToken)
    {
        using var lifetime = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (limit.Duration is { } duration) lifetime.CancelAfter(duration);
        long budget = limit.Data ?? long.MaxValue;
        var forward = CopyAsync(initiator.Input, target.Output, budget, relayed, lifetime.Token);
        var backward = CopyAsync(target.Input, initiator.Output, budget, relayed, lifetime.Token);
        CircuitEnd end;
        try
        {
            var first = await Task.WhenAny(forward, backward).ConfigureAwait(false);
            end = await first.ConfigureAwait(false);
            if (end == CircuitEnd.Done) end = await (first == forward ? backward : forward).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            end = CircuitEnd.DurationLimit;
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or OperationCanceledException)
        {
            end = CircuitEnd.Reset;
        }
        if (end != CircuitEnd.Done)
        {
            initiator.Reset();
            target.Reset();
            await lifetime.CancelAsync().ConfigureAwait(false);
        }
        try
        {
            await Task.WhenAll(forward, backward).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or InvalidOperationException or OperationCanceledException)
        {
            // the other direction ended with the reset
        }
        return end;
    }

    /// <summary>Copies until the source ends (then half-closes the destination) or the budget is spent.</summary>
    private static async Task<CircuitEnd> CopyAsync(PipeReader from, PipeWriter to, long budget, Action<long> relayed, CancellationToken cancellationToken)
    {
        long remaining = budget;
        while (true)
        {
            var result = await from.ReadAsync(cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            long take = Math.Min(buffer.Length, remaining);
            if (take > 0)
            {
                foreach (var segment in buffer.Slice(0, take)) to.Write(segment.Span);
                remaining -= take;
                relayed(take);
            }
            from.AdvanceTo(buffer.GetPosition(take));
            if (take > 0)
            {
                var flushed = await to.FlushAsync(cancellationToken).ConfigureAwait(false);
                if (flushed.IsCompleted) return CircuitEnd.Reset; // the destination stopped reading
            }
            if (remaining == 0 && budget != long.MaxValue) return CircuitEnd.DataLimit;
            if (result.IsCompleted && take == buffer.Length)
            {
                await to.CompleteAsync().ConfigureAwait(false);
                return CircuitEnd.Done;
            }
            if (result.IsCanceled) return CircuitEnd.Reset;
        }
    }
}
