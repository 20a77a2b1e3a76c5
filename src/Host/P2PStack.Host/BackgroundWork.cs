using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace P2PStack.Host;

/// <summary>
/// Work a host owns beyond the caller of the moment (accept loops, upgrades, connection runs, stream handlers, module
/// work such as identify): every item sees the host's stopping token, a failure is logged once, and
/// <see cref="StopAsync"/> cancels the token and waits until nothing runs any more.
/// </summary>
internal sealed partial class BackgroundWork(ILogger logger)
{
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<Task, byte> _running = new();

    /// <summary>Cancelled when the host stops.</summary>
    public CancellationToken Stopping => _stopping.Token;

    /// <summary>Items running now (for tests and diagnostics).</summary>
    public int Count => _running.Count;

    /// <summary>Starts <paramref name="work"/> (it runs synchronously up to its first await, as a plain call would).</summary>
    public void Run(Func<CancellationToken, Task> work)
    {
        ArgumentNullException.ThrowIfNull(work);
        // The task registers itself before its body runs, so a quick item cannot finish before it is tracked.
        var registered = new TaskCompletionSource();
        Task task = null!;
        task = RunCoreAsync();
        _running.TryAdd(task, 0);
        registered.SetResult();

        async Task RunCoreAsync()
        {
            await registered.Task.ConfigureAwait(false);
            try
            {
                await work(_stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                // stopped
            }
            catch (Exception ex)
            {
                LogFailed(ex);
            }
            finally
            {
                _running.TryRemove(task, out _);
            }
        }
    }

    /// <summary>Cancels the stopping token (items keep running until they notice).</summary>
    public void Cancel() => _stopping.Cancel();

    /// <summary>Cancels every item and waits until none runs (items started meanwhile included).</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        while (!_running.IsEmpty)
        {
            await Task.WhenAll(_running.Keys).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Background work of the host failed")]
    private partial void LogFailed(Exception exception);
}
