using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using P2PStack.Host;
using P2PStack.Network;
using P2PStack.Protocols.Kademlia;
using P2PStack.Protocols.Kademlia.Hosting;

namespace P2PStack.Discovery.Mdns.Tests;

/// <summary>
/// Real hosts (TCP, Noise, Yamux, identify, Kademlia) finding each other through real multicast on the loopback
/// interface only (TTL 1, a private port per test so concurrent runs stay apart): nothing leaves this machine.
/// </summary>
public class MdnsHostTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private sealed class Node : IAsyncDisposable
    {
        private readonly ServiceProvider _services;

        private Node(ServiceProvider services)
        {
            _services = services;
            Host = services.GetRequiredService<PeerHost>();
            Mdns = services.GetRequiredService<MdnsDiscovery>();
            Dht = services.GetRequiredService<KademliaDht>();
            Kad = services.GetRequiredService<KademliaHostedService>();
        }

        public PeerHost Host { get; }
        public MdnsDiscovery Mdns { get; }
        public KademliaDht Dht { get; }
        private KademliaHostedService Kad { get; }
        public TaskCompletionSource<PeerDiscovered> Found { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public static async Task<Node> StartAsync(int port)
        {
            var services = new ServiceCollection();
            services.AddP2PStack(p2p =>
            {
                p2p.ListenOn("/ip4/127.0.0.1/tcp/0");
                p2p.AddTcpTransport().AddNoise().AddYamux().AddIdentify();
                p2p.AddKademlia(o => o.RefreshInterval = TimeSpan.Zero);
                p2p.AddMdns(o =>
                {
                    o.Port = port;
                    o.Interfaces.Add(LoopbackName());
                    o.IncludeLoopback = true;
                    o.UseIPv6 = false;
                    o.MulticastTimeToLive = 1;
                    o.QueryInterval = TimeSpan.FromMilliseconds(500);
                });
            });
            var node = new Node(services.BuildServiceProvider());
            node.Host.Events.Subscribe<PeerDiscovered>(e => node.Found.TrySetResult(e));
            await node.Host.StartAsync(CancellationToken.None);
            await node.Kad.StartAsync(CancellationToken.None);
            await node.Mdns.StartAsync(CancellationToken.None);
            Assert.True(node.Mdns.IsRunning, "multicast on the loopback interface is unavailable on this machine");
            return node;
        }

        public async ValueTask DisposeAsync()
        {
            await Mdns.StopAsync(CancellationToken.None);
            await Kad.StopAsync(CancellationToken.None);
            await Host.DisposeAsync();
            await _services.DisposeAsync();
        }
    }

    [Fact]
    public async Task TwoHostsDiscoverEachOtherDialAndFillTheDhtRoutingTable()
    {
        int port = FreeUdpPort();
        await using var a = await Node.StartAsync(port);
        await using var b = await Node.StartAsync(port);

        var foundByA = await a.Found.Task.WaitAsync(Patience);
        var foundByB = await b.Found.Task.WaitAsync(Patience);
        Assert.Equal((b.Host.PeerId, MdnsDiscovery.Source), (foundByA.Peer, foundByA.Source));
        Assert.Equal(a.Host.PeerId, foundByB.Peer);
        Assert.Contains(b.Host.ListenAddresses[0], foundByA.Addresses);
        Assert.Contains(b.Host.ListenAddresses[0], a.Host.PeerStore.GetAddresses(b.Host.PeerId));
        Assert.Equal(["lo/InterNetwork"], a.Mdns.JoinedInterfaces.Select(i => i.Replace(LoopbackName(), "lo")));

        using var deadline = new CancellationTokenSource(Patience);
        while (!(a.Dht.RoutingTable.Contains(b.Host.PeerId) && b.Dht.RoutingTable.Contains(a.Host.PeerId)))
            await Task.Delay(50, deadline.Token);
        Assert.NotEmpty(a.Host.GetConnections(b.Host.PeerId));
    }

    [Fact]
    public async Task StartingTwiceAndStoppingTwiceAreHarmless()
    {
        await using var node = await Node.StartAsync(FreeUdpPort());
        await node.Mdns.StartAsync(CancellationToken.None);
        await node.Mdns.StopAsync(CancellationToken.None);
        Assert.False(node.Mdns.IsRunning);
        await node.Mdns.StopAsync(CancellationToken.None);
    }

    private static string LoopbackName() =>
        NetworkInterface.GetAllNetworkInterfaces().First(i => i.NetworkInterfaceType == NetworkInterfaceType.Loopback).Name;

    private static int FreeUdpPort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Any, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
