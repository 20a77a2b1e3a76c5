using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using P2PStack.Discovery.Mdns;

namespace P2PStack;

public static class MdnsServiceCollectionExtensions
{
    /// <summary>
    /// Adds mDNS discovery: <see cref="MdnsDiscovery"/>, an <see cref="IHostedService"/> started after the host. Add
    /// identify (and Kademlia) too for dialed peers to reach the DHT routing table.
    /// </summary>
    public static IP2PBuilder AddMdns(this IP2PBuilder builder, Action<MdnsOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<MdnsOptions>().Validate(o =>
        {
            o.Validate();
            return true;
        });
        if (configure is not null) builder.Services.Configure(configure);
        builder.Services.TryAddSingleton<MdnsDiscovery>();
        builder.Services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<MdnsDiscovery>());
        return builder;
    }
}
