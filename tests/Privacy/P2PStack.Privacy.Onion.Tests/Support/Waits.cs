namespace P2PStack.Privacy.Onion.Tests;

/// <summary>Waiting for a condition with a deadline that fails with what was awaited, not a bare cancellation.</summary>
internal static class Waits
{
    /// <summary>Polls <paramref name="condition"/> until it holds.</summary>
    /// <exception cref="TimeoutException">Not reached within <paramref name="patience"/>: names <paramref name="what"/>
    /// and, if given, the <paramref name="state"/> seen last.</exception>
    public static async Task UntilAsync(Func<bool> condition, string what, TimeSpan patience, Func<string>? state = null)
    {
        var deadline = DateTime.UtcNow + patience;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"timed out after {patience.TotalSeconds:0.###} s waiting for {what}" + (state is null ? "" : $" (last seen: {state()})"));
            await Task.Delay(10);
        }
    }
}
