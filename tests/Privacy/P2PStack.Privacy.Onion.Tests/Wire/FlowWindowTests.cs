using P2PStack.Privacy.Onion.Wire;

namespace P2PStack.Privacy.Onion.Tests.Wire;

/// <summary>A sender waiting for a window resumes on the thread that refills it, or through the thread pool.</summary>
public class FlowWindowTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_waiting_sender_resumes_inside_the_refill_only_when_told_to(bool inline)
    {
        var window = new FlowWindow(1, resumeWaitersInline: inline);
        Assert.Equal(1, window.TryTake(5));
        using var cancel = new CancellationTokenSource();
        var resumedOn = new TaskCompletionSource<(int Thread, bool DuringAdd)>(TaskCreationOptions.RunContinuationsAsynchronously);
        bool adding = false;
        var waiting = WaitAsync();
        Assert.False(waiting.IsCompleted); // the window is empty

        // A thread of its own (not the pool's), so that a continuation queued to the pool cannot run on it.
        int refiller = 0;
        var thread = new Thread(() =>
        {
            refiller = Environment.CurrentManagedThreadId;
            Volatile.Write(ref adding, true);
            window.Add(3);
            Volatile.Write(ref adding, false);
        });
        thread.Start();
        thread.Join();
        var (resumed, duringAdd) = await resumedOn.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(inline, resumed == refiller); // the pool never runs work on a thread of its own
        if (inline) Assert.True(duringAdd); // (through the pool it may run before or after Add returns)
        await waiting;
        Assert.Equal(3, window.TryTake(5));

        async Task WaitAsync()
        {
            await window.WaitOpenAsync(cancel.Token).ConfigureAwait(false);
            resumedOn.TrySetResult((Environment.CurrentManagedThreadId, Volatile.Read(ref adding)));
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_waiting_sender_can_still_be_cancelled_and_is_released_by_the_end(bool inline)
    {
        var window = new FlowWindow(0, resumeWaitersInline: inline);
        using var cancel = new CancellationTokenSource();
        var cancelled = window.WaitOpenAsync(cancel.Token);
        var ended = window.WaitOpenAsync(CancellationToken.None);
        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.False(ended.IsCompleted);
        window.Fail();
        await Assert.ThrowsAsync<IOException>(() => ended.WaitAsync(TimeSpan.FromSeconds(30)));
    }
}
