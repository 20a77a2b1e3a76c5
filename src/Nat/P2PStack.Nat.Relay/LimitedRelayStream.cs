using System.Buffers;
using System.IO.Pipelines;
using P2PStack.Network;

namespace P2PStack.Nat.Relay;

/// <summary>
/// The stream that carries a relayed connection, held to the limits its relay announced: a relay that says it cuts a
/// connection at <c>data</c> bytes per direction or after <c>duration</c> but does not is not trusted to. More than
/// <c>data</c> bytes received, or the connection still open <see cref="RelayClientOptions.LimitGrace"/> after
/// <c>duration</c>, resets the stream; reads then throw <see cref="RelayLimitExceededException"/>. The bytes we send
/// are checked where they are received: counting them here would blame an honest relay, which cuts them only once
/// they reach it.
/// </summary>
internal sealed class LimitedRelayStream : IStream
{
    private readonly IStream _inner;
    private readonly RelayLimit _limit;
    private readonly Action<string> _exceeded;
    private readonly ITimer? _timer;
    private RelayLimitExceededException? _error;

    /// <param name="exceeded">Called once, with the reason, when a limit was passed (log and count).</param>
    public LimitedRelayStream(IStream inner, RelayLimit limit, TimeSpan grace, TimeProvider time, Action<string> exceeded)
    {
        _inner = inner;
        _limit = limit;
        _exceeded = exceeded;
        Input = new CountingReader(this, inner.Input);
        if (limit.Duration is { } duration)
        {
            _timer = time.CreateTimer(_ => Exceed($"open longer than the announced {duration.TotalSeconds:0.#} s"), null,
                duration + grace, Timeout.InfiniteTimeSpan);
        }
    }

    public PipeReader Input { get; }

    public PipeWriter Output => _inner.Output;

    public string Protocol => _inner.Protocol;

    public IConnection Connection => _inner.Connection;

    public Direction Direction => _inner.Direction;

    public void Reset()
    {
        _timer?.Dispose();
        _inner.Reset();
    }

    public async ValueTask DisposeAsync()
    {
        _timer?.Dispose();
        await _inner.DisposeAsync().ConfigureAwait(false);
    }

    private long DataLimit => _limit.Data ?? long.MaxValue;

    private RelayLimitExceededException Exceed(string reason)
    {
        var error = new RelayLimitExceededException($"relayed connection past its relay's limit: {reason}");
        if (Interlocked.CompareExchange(ref _error, error, null) is { } first) return first;
        _exceeded(reason);
        Reset();
        return error;
    }

    private sealed class CountingReader(LimitedRelayStream owner, PipeReader inner) : PipeReader
    {
        private long _consumed;
        private ReadOnlySequence<byte> _last;

        public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            ReadResult result;
            try
            {
                result = await inner.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (owner._error is not null && ex is IOException or InvalidOperationException or OperationCanceledException)
            {
                throw owner._error;
            }
            return Check(result);
        }

        public override bool TryRead(out ReadResult result)
        {
            if (!inner.TryRead(out result)) return false;
            result = Check(result);
            return true;
        }

        private ReadResult Check(ReadResult result)
        {
            if (owner._error is { } error) throw error;
            _last = result.Buffer;
            if (_consumed + result.Buffer.Length > owner.DataLimit)
                throw owner.Exceed($"received more than the announced {owner.DataLimit} bytes");
            return result;
        }

        public override void AdvanceTo(SequencePosition consumed)
        {
            _consumed += _last.Slice(_last.Start, consumed).Length;
            inner.AdvanceTo(consumed);
        }

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            _consumed += _last.Slice(_last.Start, consumed).Length;
            inner.AdvanceTo(consumed, examined);
        }

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);
    }
}
