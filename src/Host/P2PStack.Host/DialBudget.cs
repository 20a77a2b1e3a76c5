using P2PStack.Network;

namespace P2PStack.Host;

/// <summary>
/// One dial's token: the caller's, the host's lifetime and the dial's own budget (<see cref="DialOptions.Timeout"/>).
/// Tells the budget's expiry (a timeout, reported as one, naming the option) from a cancellation by the caller or the
/// host's stop.
/// </summary>
internal sealed class DialBudget : IDisposable
{
    private readonly CancellationTokenSource _source;
    private readonly CancellationToken _caller;
    private readonly CancellationToken _stopping;
    private readonly TimeSpan? _timeout;

    public DialBudget(DialOptions options, CancellationToken caller, CancellationToken stopping)
    {
        _source = CancellationTokenSource.CreateLinkedTokenSource(caller, stopping);
        (_caller, _stopping, _timeout) = (caller, stopping, options.Timeout);
        if (_timeout is { } timeout) _source.CancelAfter(timeout);
    }

    public CancellationToken Token => _source.Token;

    /// <summary>The budget ran out, and nobody cancelled the dial.</summary>
    public bool Expired => _timeout is not null && _source.IsCancellationRequested
                           && !_caller.IsCancellationRequested && !_stopping.IsCancellationRequested;

    /// <summary>The timeout <paramref name="what"/> (e.g. "dialing peer X") ran into.</summary>
    public TimeoutException Exceeded(string what, Exception? inner = null) => new(
        $"{what} took longer than the dial's budget (DialOptions.Timeout, {_timeout.GetValueOrDefault().TotalSeconds:0.###} s)", inner);

    public void Dispose() => _source.Dispose();
}
