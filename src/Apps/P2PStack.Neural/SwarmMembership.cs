using P2PStack.Protocols.GossipSub;

namespace P2PStack.Neural;

/// <summary>What joining one swarm set up: a validator and a subscription (and its reader) per family topic.</summary>
internal sealed class SwarmMembership : IAsyncDisposable
{
    public List<IDisposable> Validators { get; } = [];

    public List<Subscription> Subscriptions { get; } = [];

    public List<Task> Readers { get; } = [];

    public async ValueTask DisposeAsync()
    {
        foreach (var subscription in Subscriptions) subscription.Dispose();
        foreach (var validator in Validators) validator.Dispose();
        await Task.WhenAll(Readers).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }
}
