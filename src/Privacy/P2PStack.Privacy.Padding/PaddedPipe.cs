using System.Buffers;
using System.IO.Pipelines;
using Microsoft.Extensions.Logging;
using P2PStack.Network;

namespace P2PStack.Privacy.Padding;

/// <summary>
/// One padded connection: a send pump that turns the muxer's bursts into whole cells (one secure-channel message per
/// cell), adds cover cells on idle intervals and delays bursts by jitter and batching; and a receive pump that checks
/// every cell and hands the payload up. Both start with the hello exchange (docs/specs/padding.md).
/// </summary>
internal sealed partial class PaddedPipe : IFilteredPipe
{
    private readonly IDuplexPipe _inner;
    private readonly int[] _localSizes;
    private readonly CoverTraffic _cover;
    private readonly double _coverRate;
    private readonly int _coverBudget;
    private readonly TimeSpan _coverMaxLag;
    private readonly TimeSpan _maxJitter;
    private readonly TimeSpan _batchDelay;
    private readonly TimeSpan _helloTimeout;
    private readonly PaddingMetrics _metrics;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Pipe _fromApp = new(new PipeOptions(useSynchronizationContext: false));
    private readonly Pipe _toApp = new(new PipeOptions(useSynchronizationContext: false));
    private readonly TaskCompletionSource<int[]> _agreed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _sending;
    private readonly Task _receiving;
    private int _coverDue; // cover events the send pump has not handled yet
    private int _coverMaxPending = 1;

    public PaddedPipe(IDuplexPipe inner, PaddingOptions options, PaddingMetrics metrics, ILogger logger, TimeProvider time)
    {
        _time = time;
        _inner = inner;
        _localSizes = [.. options.CellSizes];
        _cover = options.Cover;
        _coverRate = options.CoverRate;
        _coverBudget = options.CoverBudgetBytesPerSecond;
        _coverMaxLag = options.CoverMaxLag;
        _maxJitter = options.MaxJitter;
        _batchDelay = options.BatchDelay;
        _helloTimeout = options.HelloTimeout;
        _metrics = metrics;
        _logger = logger;
        _sending = Task.Run(SendAsync);
        _receiving = Task.Run(ReceiveAsync);
    }

    public PipeReader Input => _toApp.Reader;

    public PipeWriter Output => _fromApp.Writer;

    /// <summary>The cell sizes both ends agreed on (completes after the hello exchange).</summary>
    public Task<int[]> Agreed => _agreed.Task;

    /// <summary>Cover cells per second this end sends on idle intervals: the configured rate, lowered to the budget
    /// for cells of the smallest agreed size; zero without cover traffic.</summary>
    internal double EffectiveCoverRate(int smallestCell) => CoverFor(smallestCell)?.Rate ?? 0;

    private CoverSchedule? CoverFor(int smallestCell) => CoverSchedule.For(_cover, _coverRate, _coverBudget, smallestCell, _coverMaxLag);

    private async Task SendAsync()
    {
        Exception? error = null;
        using var tickerStop = new CancellationTokenSource();
        Task? ticker = null;
        try
        {
            PaddingWire.WriteHello(_inner.Output.GetSpan(PaddingWire.HelloSize), _localSizes);
            _inner.Output.Advance(PaddingWire.HelloSize);
            await FlushInnerAsync().ConfigureAwait(false);

            int[] agreed;
            try
            {
                agreed = await _agreed.Task.WaitAsync(_helloTimeout, _stop.Token).ConfigureAwait(false);
            }
            catch (TimeoutException ex)
            {
                _metrics.NegotiationFailed();
                throw new PaddingNegotiationException($"no padding hello from the remote within {_helloTimeout}", ex);
            }

            if (CoverFor(agreed[0]) is { } cover)
            {
                _coverMaxPending = cover.MaxPending;
                ticker = cover.RunAsync(_time, MarkCoverDue, tickerStop.Token);
            }

            var reader = _fromApp.Reader;
            bool dataSinceTick = false;
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                int ticks = Interlocked.Exchange(ref _coverDue, 0);
                if (buffer.IsEmpty)
                {
                    reader.AdvanceTo(buffer.End);
                    if (result.IsCompleted) break;
                    // One cover cell per event whose interval carried no data: a busy link carries no extra cells.
                    // Events that came due before the pump woke (a late timer's catch-up) each count.
                    for (; ticks > 0; ticks--)
                    {
                        if (!dataSinceTick) await SendCoverAsync(agreed).ConfigureAwait(false);
                        dataSinceTick = false;
                    }
                    continue;
                }

                TimeSpan delay = NextDelay();
                if (delay > TimeSpan.Zero && !result.IsCompleted)
                {
                    // Leave the burst in the pipe while waiting, so that data written meanwhile joins it.
                    reader.AdvanceTo(buffer.Start);
                    await Task.Delay(delay, _time, _stop.Token).ConfigureAwait(false);
                    if (!reader.TryRead(out result)) throw new InvalidOperationException("the pending burst disappeared");
                    buffer = result.Buffer;
                }

                await SendDataAsync(agreed, buffer).ConfigureAwait(false);
                reader.AdvanceTo(buffer.End);
                dataSinceTick = true;
                if (result.IsCompleted) break;
            }
        }
        catch (Exception ex)
        {
            error = ex;
        }

        await tickerStop.CancelAsync().ConfigureAwait(false);
        if (ticker is not null) await ticker.ConfigureAwait(false);
        await _fromApp.Reader.CompleteAsync(error).ConfigureAwait(false);
        await _inner.Output.CompleteAsync(error).ConfigureAwait(false);
    }

    private async ValueTask SendDataAsync(int[] agreed, ReadOnlySequence<byte> burst)
    {
        int index = PaddingWire.ChooseSize(agreed, burst.Length);
        int size = agreed[index];
        int capacity = PaddingWire.Capacity(size);
        while (!burst.IsEmpty)
        {
            int take = (int)Math.Min(capacity, burst.Length);
            PaddingWire.WriteCell(_inner.Output.GetSpan(size), agreed, index, burst.Slice(0, take));
            _inner.Output.Advance(size);
            _metrics.DataCellSent(size, take);
            // One flush per cell: the secure channel seals each cell as a message of its own.
            await FlushInnerAsync().ConfigureAwait(false);
            burst = burst.Slice(take);
        }
    }

    private async ValueTask SendCoverAsync(int[] agreed)
    {
        int size = agreed[0];
        PaddingWire.WriteCell(_inner.Output.GetSpan(size), agreed, 0, ReadOnlySequence<byte>.Empty);
        _inner.Output.Advance(size);
        _metrics.CoverCellSent(size);
        await FlushInnerAsync().ConfigureAwait(false);
    }

    private async ValueTask FlushInnerAsync()
    {
        var flush = await _inner.Output.FlushAsync(_stop.Token).ConfigureAwait(false);
        if (flush.IsCompleted) throw new IOException("the connection under the padding filter is closed");
    }

    private TimeSpan NextDelay()
    {
        if (_maxJitter <= TimeSpan.Zero) return _batchDelay;
        return _batchDelay + _maxJitter * CoverSchedule.NextUniform();
    }

    /// <summary>Counts a cover cell due at an event of the cover process (<see cref="CoverSchedule"/>); the send pump
    /// sends it if the interval carried no data. At most the schedule's MaxPending stay pending (a pump held up by a
    /// remote that does not read sends no burst of missed cells afterwards).</summary>
    private ValueTask MarkCoverDue(CancellationToken cancellationToken)
    {
        int due = Volatile.Read(ref _coverDue);
        while (due < _coverMaxPending)
        {
            int seen = Interlocked.CompareExchange(ref _coverDue, due + 1, due);
            if (seen == due) break;
            due = seen;
        }
        _fromApp.Reader.CancelPendingRead();
        return ValueTask.CompletedTask;
    }

    private async Task ReceiveAsync()
    {
        Exception? error = null;
        var input = _inner.Input;
        try
        {
            int[]? agreed = await ReadHelloAsync(input).ConfigureAwait(false);
            if (agreed is null) return;

            while (true)
            {
                var result = await input.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled) break; // disposed
                var buffer = result.Buffer;
                while (PaddingWire.TryReadHeader(buffer, agreed, out int size, out int length) && buffer.Length >= size)
                {
                    foreach (var segment in buffer.Slice(PaddingWire.CellHeaderSize, length)) _toApp.Writer.Write(segment.Span);
                    _metrics.CellReceived(length == 0);
                    buffer = buffer.Slice(size);
                }

                input.AdvanceTo(buffer.Start, buffer.End);
                var flush = await _toApp.Writer.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted) break; // the muxer stopped reading
                if (result.IsCompleted)
                {
                    if (!buffer.IsEmpty) throw new PaddingFormatException("the connection ended inside a padding cell");
                    break;
                }
            }
        }
        catch (Exception ex)
        {
            error = ex;
            if (ex is PaddingFormatException)
            {
                _metrics.Malformed();
                LogMalformed(ex.Message);
            }
        }
        finally
        {
            _agreed.TrySetException(error ?? new EndOfStreamException("the connection ended before the padding hello"));
            await input.CompleteAsync(error).ConfigureAwait(false);
            await _toApp.Writer.CompleteAsync(error).ConfigureAwait(false);
        }
    }

    private async Task<int[]?> ReadHelloAsync(PipeReader input)
    {
        while (true)
        {
            var result = await input.ReadAsync().ConfigureAwait(false);
            if (result.IsCanceled) return null;
            var buffer = result.Buffer;
            if (buffer.Length >= PaddingWire.HelloSize)
            {
                int[] remote = ReadHello(buffer.Slice(0, PaddingWire.HelloSize));
                int[] agreed;
                try
                {
                    agreed = PaddingWire.Agree(_localSizes, remote);
                }
                catch (PaddingNegotiationException)
                {
                    _metrics.NegotiationFailed();
                    throw;
                }
                input.AdvanceTo(buffer.GetPosition(PaddingWire.HelloSize));
                _agreed.TrySetResult(agreed);
                return agreed;
            }
            if (result.IsCompleted) throw new PaddingFormatException("the connection ended inside the padding hello");
            input.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static int[] ReadHello(ReadOnlySequence<byte> hello)
    {
        Span<byte> bytes = stackalloc byte[PaddingWire.HelloSize];
        hello.CopyTo(bytes);
        return PaddingWire.ReadHello(bytes);
    }

    public async ValueTask DisposeAsync()
    {
        // The owner is done: let the send pump drain what the muxer wrote (its close frames), for at most the hello
        // timeout, then stop everything.
        await _fromApp.Writer.CompleteAsync().ConfigureAwait(false);
        await _toApp.Reader.CompleteAsync().ConfigureAwait(false);
        _inner.Input.CancelPendingRead();
        try
        {
            await _sending.WaitAsync(_helloTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // The remote does not read: give up on the tail.
        }
        await _stop.CancelAsync().ConfigureAwait(false);
        _inner.Output.CancelPendingFlush();
        await Task.WhenAll(_sending, _receiving).ConfigureAwait(false);
        _stop.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "padded connection closed: {Reason}")]
    private partial void LogMalformed(string reason);
}
