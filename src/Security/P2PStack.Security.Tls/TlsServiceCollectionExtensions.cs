using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using P2PStack.Network;
using P2PStack.Security.Tls;

namespace P2PStack;

public static class TlsServiceCollectionExtensions
{
    /// <summary>
    /// Registers libp2p TLS (<c>/tls/1.0.0</c>) as an <see cref="ISecureChannel"/>. Registration order is
    /// multistream-select preference order: call it after <c>AddNoise</c> to offer TLS after the Noise suites (the
    /// default of the node), or before to prefer it.
    /// </summary>
    public static IP2PBuilder AddTls(this IP2PBuilder builder, Action<TlsOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var check = new TlsOptions();
        configure?.Invoke(check);
        check.Validate();
        var options = builder.Services.AddOptions<TlsOptions>();
        if (configure is not null) options.Configure(configure);
        builder.Services.AddSingleton<ISecureChannel>(sp => new TlsSecureChannel(sp.GetRequiredService<IOptions<TlsOptions>>()));
        return builder;
    }
}
