namespace P2PStack.Host;

/// <summary>
/// One dial attempt shared by every caller that asked for the same peer meanwhile. Each caller's token cancels only
/// its own wait; the attempt itself is cancelled when the last waiting caller gives up (or the host stops).
/// </summary>
internal sealed class PendingDial(CancellationToken hostLifetime)
{
    private readonly CancellationTokenSource _attempt = CancellationTokenSource.CreateLinkedTokenSource(hostLifetime);
    private Task<Network.IConnection>? _task;
    private int _waiters;
    private volatile bool _abandoned;

    /// <summary>Whether the attempt dials addresses its caller named (not only the peer store's).</summary>
    public bool HasAddresses { get; init; }

    /// <summary>Every caller gave up and the attempt was cancelled: a new caller must not join it (it would see the
    /// others' cancellation as its own) but start its own attempt.</summary>
    public bool Abandoned => _abandoned;

    public void Start(Func<CancellationToken, Task<Network.IConnection>> dial, Action onCompleted)
    {
        _task = RunAsync(dial, onCompleted);
    }

    public async Task<Network.IConnection> WaitAsync(CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _waiters);
        try
        {
            return await _task!.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && !_task!.IsCompleted)
        {
            if (Interlocked.Decrement(ref _waiters) == 0)
            {
                _abandoned = true;
                try
                {
                    await _attempt.CancelAsync().ConfigureAwait(false);
                }
                catch (ObjectDisposedException)
                {
                    // the attempt finished meanwhile
                }
            }
            throw;
        }
    }

    private async Task<Network.IConnection> RunAsync(Func<CancellationToken, Task<Network.IConnection>> dial, Action onCompleted)
    {
        try
        {
            await Task.Yield(); // register before any waiter can observe completion
            return await dial(_attempt.Token).ConfigureAwait(false);
        }
        finally
        {
            onCompleted();
            _attempt.Dispose();
        }
    }
}
