using Microsoft.Extensions.DependencyInjection;
using P2PStack;
using P2PStack.Transports.Tcp;
using SynapticMesh.Home;

namespace SynapticMesh.Node;

/// <summary>
/// The node's NAT traversal modules, from its config (docs/nat.md): the relay transport and client always (so relayed
/// addresses can be dialed and static relays reserved on), the relay service with <c>--relay-service</c>, and with
/// <c>--nat auto</c> AutoNAT (client and server), DCUtR hole punching (TCP dials from the listen port), port mapping
/// and reservations on relays once AutoNAT finds the node private. The STUN client serves <c>p2p nat --method stun</c>.
/// </summary>
internal static class NodeNat
{
    public static void AddNatTraversal(IP2PBuilder p2p, NodeConfig config)
    {
        bool auto = config.NatAuto;
        bool allowPrivate = config.NatPrivateAddresses;
        p2p.AddCircuitRelay(service =>
        {
            service.AllowPrivateAddresses = allowPrivate;
            if (config.RelayService is not { } relay) return;
            service.Enabled = true;
            service.MaxReservations = relay.MaxReservations;
            service.MaxReservationsPerIp = relay.MaxReservationsPerIp;
            service.MaxCircuits = relay.MaxCircuits;
            service.MaxCircuitsPerPeer = relay.MaxCircuitsPerPeer;
            service.ReservationTtl = TimeSpan.FromSeconds(relay.ReservationTtlSeconds);
            service.LimitDuration = relay.LimitDurationSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : null;
            service.LimitData = relay.LimitDataBytes;
        }, client =>
        {
            foreach (var relay in config.RelayAddresses) client.StaticRelays.Add(relay);
            client.AutoRelay = auto;
            client.LimitGrace = TimeSpan.FromSeconds(config.RelayLimitGraceSeconds);
        });
        p2p.AddStun(client =>
        {
            foreach (string server in config.StunServers) client.Servers.Add(server);
        });
        if (!auto) return;
        // Hole punching needs the NAT to see our listen port on outgoing connections too.
        p2p.Services.Configure<TcpTransportOptions>(o => o.ReusePort = true);
        p2p.AddAutoNat(o => o.AllowPrivateAddresses = allowPrivate);
        p2p.AddDcutr(o => o.AllowPrivateAddresses = allowPrivate);
        p2p.AddPortMapping();
    }
}
