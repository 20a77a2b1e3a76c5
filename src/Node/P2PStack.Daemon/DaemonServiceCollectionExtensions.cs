using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using P2PStack.Daemon;
using P2PStack.Nat.Relay;
using P2PStack.Network;
using P2PStack.Protocols.GossipSub;
using P2PStack.Protocols.Kademlia;

namespace P2PStack;

public static class DaemonServiceCollectionExtensions
{
    /// <summary>
    /// Composes a libp2p daemon: a host with the modules <paramref name="settings"/> asks for (TCP and WebSocket,
    /// identify, ping, the security and muxer protocols, the DHT on <c>/ipfs/kad/1.0.0</c>, gossipsub or floodsub, the
    /// circuit relay v2 transport and, with <see cref="DaemonNodeSettings.Relay"/>, the hop service),
    /// and the control socket (<see cref="DaemonControlServer"/>) started by a hosted service once the host runs.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="settings"/> asks for something this build does not offer, or the
    /// control address is not a control socket address (or not loopback without consent).</exception>
    public static IServiceCollection AddP2PDaemon(this IServiceCollection services, DaemonNodeSettings settings, DaemonOptions options)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(options);
        settings.Validate();
        options.Validate();
        ControlEndpoint.CheckListenAddress(options.ControlAddress, options.AllowNonLoopbackControl);
        services.AddP2PStack(p2p =>
        {
            if (settings.Identity is not null) p2p.WithIdentity(settings.Identity);
            p2p.ConfigureHost(host =>
            {
                if (!settings.NoListen) host.ListenAddresses.AddRange(settings.HostAddresses);
                host.AnnounceAddresses.AddRange(settings.AnnounceAddresses);
                if (settings.ConnManager)
                {
                    host.ConnectionManager.LowWater = settings.ConnLow;
                    host.ConnectionManager.HighWater = settings.ConnHigh;
                    host.ConnectionManager.GracePeriod = settings.ConnGrace;
                }
                // Circuit relay v2, client side (like p2pd's default -relay): relayed connections are accepted on
                // /p2p-circuit (never advertised as such), and the client's streams may run on them.
                host.ListenAddresses.Add(CircuitRelayTransport.AnyRelay);
                host.Addresses.NoAnnounce.Add(CircuitRelayTransport.AnyRelay);
                host.AllProtocolsOnLimitedConnections = true;
            });
            p2p.AddTcpTransport().AddWebSocketTransport();
            foreach (string security in settings.Security)
            {
                if (security == "noise") p2p.AddNoise();
                else if (security == "tls") p2p.AddTls();
            }
            foreach (string muxer in settings.Muxers)
            {
                if (muxer == "yamux") p2p.AddYamux();
            }
            p2p.AddIdentify().AddPing();
            // The hop service only with -relay. The daemon's client reserves over raw hop streams (STREAM_OPEN), so
            // the stop side accepts any relay; daemons run on loopback in tests, hence private relay addresses.
            p2p.AddCircuitRelay(service =>
            {
                service.Enabled = settings.Relay;
                service.AllowPrivateAddresses = true;
            }, client => client.AcceptFromAnyRelay = true);
            if (settings.Dht is { } mode)
            {
                // Like p2pd: the public protocol id (the node's own mesh DHT uses its private one).
                p2p.AddKademlia(kad =>
                {
                    kad.ProtocolId = KadProtocol.DefaultProtocolId;
                    kad.Mode = mode;
                    if (settings.Bootstrap) kad.BootstrapPeers.AddRange(settings.BootstrapPeers);
                });
            }
            if (settings.PubSub)
            {
                p2p.AddGossipSub(gossip =>
                {
                    if (settings.PubSubRouter == PubSubRouter.FloodSub) gossip.Protocols = [GossipSubProtocols.FloodSub];
                    gossip.SignaturePolicy = settings.PubSubSign ? SignaturePolicy.StrictSign : SignaturePolicy.StrictNoSign;
                    if (settings.GossipSubHeartbeatInterval is { } interval) gossip.HeartbeatInterval = interval;
                    if (settings.GossipSubHeartbeatInitialDelay is { } delay) gossip.HeartbeatInitialDelay = delay;
                });
            }
        });
        services.AddSingleton(settings);
        services.AddSingleton(sp => new DaemonControlServer(sp.GetRequiredService<IPeerHost>(), options,
            sp.GetService<KademliaDht>(), settings.PubSub ? sp.GetRequiredService<GossipSubService>() : null,
            sp.GetService<ILogger<DaemonControlServer>>()));
        services.AddHostedService<DaemonHostedService>();
        return services;
    }
}
