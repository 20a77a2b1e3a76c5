using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Network;
using P2PStack.Protocols.Ping;

namespace P2PStack.Security.Pnet.Tests;

/// <summary>Real hosts over loopback TCP, with and without swarm keys.</summary>
public sealed class PrivateNetworkHostTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Same_key_connects_and_pings()
    {
        var key = SwarmKey.Generate();
        await using var server = await PnetPeer.StartAsync(key);
        await using var client = await PnetPeer.StartAsync(key);
        var connection = await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.Equal(server.Host.PeerId, connection.RemotePeer);
        var rtts = await client.Services.GetRequiredService<PingService>().PingAsync(server.Host.PeerId, 3, CancellationToken.None).WaitAsync(Patience);
        Assert.Equal(3, rtts.Count);
    }

    [Fact]
    public async Task Different_keys_fail_both_ways()
    {
        await using var a = await PnetPeer.StartAsync(SwarmKey.Generate());
        await using var b = await PnetPeer.StartAsync(SwarmKey.Generate());
        var ab = await Assert.ThrowsAnyAsync<Exception>(() => a.Host.DialAsync(b.Address, CancellationToken.None).AsTask().WaitAsync(Patience));
        var ba = await Assert.ThrowsAnyAsync<Exception>(() => b.Host.DialAsync(a.Address, CancellationToken.None).AsTask().WaitAsync(Patience));
        // The dialer is told what is wrong (not "malformed multistream message") well before its dial timeout.
        foreach (var error in new[] { ab, ba })
        {
            Assert.True(Describe(error).Contains("swarm key", StringComparison.Ordinal), Describe(error));
        }
        Assert.Empty(a.Host.GetConnections());
        Assert.Empty(b.Host.GetConnections());
    }

    private static string Describe(Exception error)
    {
        var messages = new List<string>();
        for (Exception? e = error; e is not null; e = e.InnerException) messages.Add(e.Message);
        if (error is AggregateException aggregate) messages.AddRange(aggregate.InnerExceptions.Select(Describe));
        return string.Join(" | ", messages);
    }

    [Fact]
    public async Task A_node_without_the_key_cannot_connect_either_way()
    {
        await using var member = await PnetPeer.StartAsync(SwarmKey.Generate());
        await using var outsider = await PnetPeer.StartAsync(null);
        await Assert.ThrowsAnyAsync<Exception>(() => outsider.Host.DialAsync(member.Address, CancellationToken.None).AsTask().WaitAsync(Patience));
        await Assert.ThrowsAnyAsync<Exception>(() => member.Host.DialAsync(outsider.Address, CancellationToken.None).AsTask().WaitAsync(Patience));
        Assert.Empty(member.Host.GetConnections());
    }

    [Fact]
    public async Task Nonce_exchange_is_bounded_by_its_timeout()
    {
        var protector = new PnetProtector(Microsoft.Extensions.Options.Options.Create(new PnetOptions
        {
            Key = SwarmKey.Generate(),
            NonceExchangeTimeout = TimeSpan.FromMilliseconds(200),
        }));
        var (dialer, listener) = P2PStack.Conformance.Security.MemoryRawConnection.CreatePair();
        await using (listener)
        {
            // The listener never answers: the dialer gives up with a timeout, not a hang.
            await Assert.ThrowsAsync<TimeoutException>(() => protector.ProtectAsync(dialer, CancellationToken.None).AsTask().WaitAsync(Patience));
        }
    }

    private sealed class PnetPeer : IAsyncDisposable
    {
        private PnetPeer(ServiceProvider services)
        {
            Services = services;
            Host = services.GetRequiredService<PeerHost>();
        }

        public ServiceProvider Services { get; }

        public PeerHost Host { get; }

        public Multiaddr Address => Host.ListenAddresses[0].Encapsulate($"/p2p/{Host.PeerId}");

        public static async Task<PnetPeer> StartAsync(SwarmKey? key)
        {
            var services = new ServiceCollection();
            services.AddP2PStack(p2p =>
            {
                if (key is not null) p2p.AddPrivateNetwork(key);
                p2p.ListenOn("/ip4/127.0.0.1/tcp/0").AddTcpTransport().AddNoise().AddYamux().AddPing()
                    .ConfigureHost(h => h.DialTimeout = TimeSpan.FromSeconds(10));
            });
            var peer = new PnetPeer(services.BuildServiceProvider());
            await peer.Host.StartAsync(CancellationToken.None);
            return peer;
        }

        public async ValueTask DisposeAsync()
        {
            await Host.DisposeAsync();
            await Services.DisposeAsync();
        }
    }
}
