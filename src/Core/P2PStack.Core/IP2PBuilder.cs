using Microsoft.Extensions.DependencyInjection;

namespace P2PStack;

/// <summary>
/// What <c>services.AddP2PStack(p2p => ...)</c> hands to module extensions: each module's <c>AddXxx</c> registers
/// its services here, so composing a peer never edits a central list.
/// </summary>
public interface IP2PBuilder
{
    IServiceCollection Services { get; }
}

/// <summary>The plain <see cref="IP2PBuilder"/>: module registrations on a service collection.</summary>
public sealed class P2PBuilder(IServiceCollection services) : IP2PBuilder
{
    public IServiceCollection Services { get; } = services;
}
