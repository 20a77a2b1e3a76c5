namespace P2PStack.Nat.Testing;

/// <summary>
/// Waiting in tests for something another task or process does: the condition is polled, and the timeout is a hang
/// guard (generous, never a measurement): past it the wait throws <see cref="TimeoutException"/>.
/// </summary>
public static class Poll
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);

    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(20);

    /// <summary>Until <paramref name="condition"/> holds.</summary>
    public static async Task UntilAsync(Func<bool> condition, string? what = null, TimeSpan? timeout = null)
    {
        await UntilAsync(() => condition() ? "" : null, what, timeout).ConfigureAwait(false);
    }

    /// <summary>Until <paramref name="probe"/> returns something, which it returns.</summary>
    public static async Task<T> UntilAsync<T>(Func<T?> probe, string? what = null, TimeSpan? timeout = null) where T : class
    {
        var limit = timeout ?? DefaultTimeout;
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            if (probe() is { } value) return value;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{what ?? "the condition"} not met within {limit}");
            await Task.Delay(Interval).ConfigureAwait(false);
        }
    }
}
