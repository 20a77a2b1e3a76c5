using System.Diagnostics;

namespace P2PStack.Interop.Discovery.Tests;

/// <summary>Polls a condition until it holds or a bounded time passes.</summary>
internal static class Eventually
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    public static async Task WaitAsync(Func<Task<bool>> condition, Func<string> describe, TimeSpan? timeout = null)
    {
        var limit = timeout ?? Patience;
        var clock = Stopwatch.StartNew();
        while (!await condition().ConfigureAwait(false))
        {
            if (clock.Elapsed > limit) throw new TimeoutException($"not reached within {limit}: {describe()}");
            await Task.Delay(100).ConfigureAwait(false);
        }
    }

    public static Task WaitAsync(Func<bool> condition, Func<string> describe, TimeSpan? timeout = null) =>
        WaitAsync(() => Task.FromResult(condition()), describe, timeout);
}
