using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace P2PStack.Nat;

/// <summary>Registration of what the NAT traversal modules share.</summary>
public static class NatServiceCollectionExtensions
{
    /// <summary>Adds one <see cref="NatTraversalMetrics"/> per container, on its meter factory, unless present (the
    /// relay and DCUtR modules call it; the node's <c>p2p nat</c> records its outcomes there too).</summary>
    public static IServiceCollection TryAddNatTraversalMetrics(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton(sp => new NatTraversalMetrics(sp.GetService<IMeterFactory>()));
        return services;
    }
}
