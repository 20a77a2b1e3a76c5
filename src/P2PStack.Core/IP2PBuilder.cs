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
