using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using P2PStack.Discovery.SignedLan;

namespace P2PStack;

public static class SignedLanServiceCollectionExtensions
{
    /// <summary>
    /// Adds signed LAN announcements (<see cref="LanAnnouncementService"/>, docs/specs/lan-announce.md). Start the
    /// service after the host (a generic host runs it as a hosted service).
    /// </summary>
    public static IP2PBuilder AddSignedLanAnnouncements(this IP2PBuilder builder, Action<LanAnnouncementOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = builder.Services.AddOptions<LanAnnouncementOptions>();
        if (configure is not null) options.Configure(configure);
        builder.Services.TryAddSingleton<LanAnnouncementService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<LanAnnouncementService>());
        return builder;
    }
}
