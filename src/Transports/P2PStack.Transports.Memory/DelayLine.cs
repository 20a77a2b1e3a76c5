using System.Buffers;
using System.IO.Pipelines;
using System.Threading.Channels;

namespace P2PStack.Transports.Memory;

/// <summary>
/// One direction of a link with latency: the sender writes into its own pipe; a pump takes each flushed write,
/// stamps it with the time it is due (latency, jitter, bandwidth queueing, retransmission delay; never earlier than
/// the write before it, so order is kept) and a second pump hands it to the receiver's pipe when that time comes.
/// The sender is never blocked by the latency itself, only by backpressure: bytes in flight count against
/// <see cref="MemoryTransportOptions.MaxBufferedBytes"/>, like a TCP window, and the receiver's pipe has its own limit.
/// </summary>
internal sealed class DelayLine : ILinkDirection
{
    private readonly Pipe _sent;
    private readonly Pipe _delivered;
    private readonly Channel<Chunk> _inFlight = Channel.CreateUnbounded<Chunk>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _drained = new(0);
    private readonly long _maxInFlight;
    private readonly MemoryLinkConditions _conditions;
    private readonly Random _random;
    private readonly TimeProvider _time;
    private readonly long _frequency;
    private long _inFlightBytes;
    private long _lastDue;
    private long _lineFreeAt;

    public DelayLine(PipeOptions options, long maxInFlight, MemoryLinkConditions conditions, int seed, TimeProvider time)
    {
        _sent = new Pipe(options);
        _delivered = new Pipe(options);
        _maxInFlight = maxInFlight;
        _conditions = conditions;
        _random = new Random(seed);
        _time = time;
        _frequency = time.TimestampFrequency;
        _ = ForwardAsync();
        _ = DeliverAsync();
    }

    public PipeWriter Writer => _sent.Writer;

    public PipeReader Reader => _delivered.Reader;

    public void Abort()
    {
        _stop.Cancel();
        _delivered.Reader.CancelPendingRead();
        _sent.Writer.CancelPendingFlush();
    }

    private readonly record struct Chunk(byte[]? Data, int Length, long Due, Exception? Error);

    // Sender side: owns _sent.Reader.
    private async Task ForwardAsync()
    {
        await Task.Yield();
        PipeReader reader = _sent.Reader;
        Exception? error = null;
        try
        {
            while (true)
            {
                ReadResult result = await reader.ReadAsync(_stop.Token).ConfigureAwait(false);
                ReadOnlySequence<byte> buffer = result.Buffer;
                if (!buffer.IsEmpty)
                {
                    int length = checked((int)buffer.Length);
                    byte[] data = ArrayPool<byte>.Shared.Rent(length);
                    buffer.CopyTo(data);
                    reader.AdvanceTo(buffer.End);
                    Interlocked.Add(ref _inFlightBytes, length);
                    _inFlight.Writer.TryWrite(new Chunk(data, length, DueTime(length), null));
                    while (Volatile.Read(ref _inFlightBytes) >= _maxInFlight)
                        await _drained.WaitAsync(_stop.Token).ConfigureAwait(false);
                }
                else
                {
                    reader.AdvanceTo(buffer.End);
                }
                if (result.IsCompleted) break;
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
            await reader.CompleteAsync().ConfigureAwait(false);
            return;
        }
        catch (Exception e)
        {
            error = e; // the sender completed its end with an error: the receiver sees it after the bytes before it
        }
        await reader.CompleteAsync().ConfigureAwait(false);
        _inFlight.Writer.TryWrite(new Chunk(null, 0, DueTime(0), error)); // end of stream
    }

    // Receiver side: owns _delivered.Writer.
    private async Task DeliverAsync()
    {
        PipeWriter writer = _delivered.Writer;
        Exception? error = null;
        try
        {
            while (await _inFlight.Reader.WaitToReadAsync(_stop.Token).ConfigureAwait(false))
            {
                while (_inFlight.Reader.TryRead(out Chunk chunk))
                {
                    long wait = chunk.Due - _time.GetTimestamp();
                    if (wait > 0) await Task.Delay(TimeSpan.FromSeconds((double)wait / _frequency), _time, _stop.Token).ConfigureAwait(false);
                    if (chunk.Data is null)
                    {
                        error = chunk.Error;
                        return;
                    }
                    writer.Write(chunk.Data.AsSpan(0, chunk.Length));
                    ArrayPool<byte>.Shared.Return(chunk.Data);
                    Interlocked.Add(ref _inFlightBytes, -chunk.Length);
                    if (_drained.CurrentCount == 0) _drained.Release();
                    FlushResult flushed = await writer.FlushAsync(_stop.Token).ConfigureAwait(false);
                    if (flushed.IsCompleted)
                    {
                        // The receiver is gone: stop forwarding, so the sender's flushes report completion.
                        _stop.Cancel();
                        return;
                    }
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        finally
        {
            await writer.CompleteAsync(error).ConfigureAwait(false);
        }
    }

    // Called by the forward pump only, so the line's state needs no lock.
    private long DueTime(int length)
    {
        long start = _time.GetTimestamp();
        if (_conditions.BandwidthBytesPerSecond > 0)
        {
            start = Math.Max(start, _lineFreeAt) + length * _frequency / _conditions.BandwidthBytesPerSecond;
            _lineFreeAt = start;
        }
        long due = start + Ticks(_conditions.Latency);
        if (_conditions.Jitter > TimeSpan.Zero) due += (long)(_random.NextDouble() * Ticks(_conditions.Jitter));
        if (_conditions.LossRate > 0 && length > 0 && _random.NextDouble() < _conditions.LossRate) due += Ticks(_conditions.RetransmissionTimeout);
        due = Math.Max(due, _lastDue);
        _lastDue = due;
        return due;
    }

    private long Ticks(TimeSpan span) => (long)(span.TotalSeconds * _frequency);
}
