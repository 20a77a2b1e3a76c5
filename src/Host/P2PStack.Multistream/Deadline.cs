namespace P2PStack.Multistream;

/// <summary>The caller's token joined with the negotiation timeout. Allocates only when a timeout is configured.</summary>
internal readonly struct Deadline : IDisposable
{
    private readonly CancellationTokenSource? _timeout;
    private readonly CancellationToken _caller;
    private readonly TimeSpan _limit;

    private Deadline(CancellationTokenSource? timeout, CancellationToken caller, TimeSpan limit)
    {
        _timeout = timeout;
        _caller = caller;
        _limit = limit;
    }

    public static Deadline Start(MultistreamOptions options, CancellationToken caller)
    {
        if (options.NegotiationTimeout == System.Threading.Timeout.InfiniteTimeSpan) return new Deadline(null, caller, options.NegotiationTimeout);
        var timeout = CancellationTokenSource.CreateLinkedTokenSource(caller);
        timeout.CancelAfter(options.NegotiationTimeout);
        return new Deadline(timeout, caller, options.NegotiationTimeout);
    }

    public CancellationToken Token => _timeout?.Token ?? _caller;

    /// <summary>True when <paramref name="e"/> came from the timeout rather than from the caller.</summary>
    public bool Expired(OperationCanceledException e) =>
        _timeout is not null && _timeout.IsCancellationRequested && !_caller.IsCancellationRequested && e.CancellationToken == _timeout.Token;

    public TimeoutException TimedOut() => new($"multistream-select negotiation did not finish within {_limit}");

    public void Dispose() => _timeout?.Dispose();
}
