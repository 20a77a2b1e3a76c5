namespace SynapticMesh.Tests.Registry;

public static class Eventually
{
    /// <summary>Polls until <paramref name="condition"/> holds; <paramref name="timeout"/> is only a hang guard.</summary>
    public static async Task WaitAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string> whatFailed)
    {
        using var deadline = new CancellationTokenSource(timeout);
        while (true)
        {
            if (await condition()) return;
            try
            {
                await Task.Delay(250, deadline.Token);
            }
            catch (OperationCanceledException)
            {
                throw new TimeoutException($"not reached within {timeout}: {whatFailed()}");
            }
        }
    }
}
