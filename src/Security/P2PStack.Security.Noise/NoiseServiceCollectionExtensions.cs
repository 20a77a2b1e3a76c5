using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using P2PStack.Network;

using P2PStack.Security.Noise;

namespace P2PStack;

public static class NoiseServiceCollectionExtensions
{
    /// <summary>
    /// Registers the Noise secure channels as <see cref="ISecureChannel"/>s in multistream-select preference order:
    /// the hybrid suites first (the preferred level leading, default <c>/noise-mlkem768-hfs/0.1.0</c>), then
    /// <c>/noise</c> unless the post-quantum policy refuses it. Each connection authenticates as the identity the
    /// upgrader passes (the host's, or a per-connection one).
    /// The suite list is fixed here from <paramref name="configure"/>; the other options are read when resolved.
    /// </summary>
    public static IP2PBuilder AddNoise(this IP2PBuilder builder, Action<NoiseOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        var registration = new NoiseOptions();
        configure?.Invoke(registration);
        registration.Validate();

        var optionsBuilder = services.AddOptions<NoiseOptions>();
        if (configure is not null)
        {
            optionsBuilder.Configure(configure);
        }

        // One set of static keys and verified payloads for all the suites of this host.
        services.TryAddSingleton(_ => new NoiseKeyCaches());
        foreach (var suite in registration.PostQuantum.SuitesInPreferenceOrder())
        {
            services.AddSingleton<ISecureChannel>(provider => new NoiseSecureChannel(suite,
                provider.GetRequiredService<IOptions<NoiseOptions>>(), provider.GetRequiredService<NoiseKeyCaches>()));
        }

        return builder;
    }
}
