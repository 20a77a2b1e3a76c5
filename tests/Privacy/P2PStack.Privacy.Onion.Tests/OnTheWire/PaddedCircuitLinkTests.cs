using System.Net;
using P2PStack.Addressing;
using P2PStack.Network;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Privacy.Padding;
using P2PStack.Privacy.Padding.Tests;

namespace P2PStack.Privacy.Onion.Tests.OnTheWire;

/// <summary>
/// The connections that carry circuit links are padded by the padding policy's <see cref="PaddingScope.CircuitLink"/>
/// scope, on by default (docs/specs/padding.md): on real sockets an on-path observer sees only cells of the configured
/// sizes on the client's link and on the relays' link; with the scope off it sees the unpadded records. An existing
/// unpadded connection does not carry a link; a hop without padding is refused or reached without it, by policy.
/// </summary>
public class PaddedCircuitLinkTests
{
    private static readonly TimeSpan Patience = OnionTestNetwork.Patience;
    private const int Tag = 16; // the Noise AEAD tag on each message
    private const int HelloMessage = PaddingWire.HelloSize + Tag;
    private static readonly int[] DefaultCells = [1024 + Tag, 16384 + Tag];

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task On_the_socket_every_circuit_link_record_is_a_cell_of_the_configured_sizes_by_default_and_not_with_the_scope_off(bool padded)
    {
        // An observer in front of each relay, announced as the relay's address: the client's link to relay 0 and relay
        // 0's link to relay 1 (dialed on EXTEND, at the address in relay 1's descriptor) cross them.
        OnionTestNetwork? network = null;
        var observers = new WireObserver[2];
        for (int i = 0; i < observers.Length; i++)
        {
            int relay = i;
            observers[i] = new WireObserver(() =>
                new IPEndPoint(IPAddress.Loopback, int.Parse(network!.Relays[relay].Host.ListenAddresses[0].ToString().Split('/')[4])));
        }
        try
        {
            network = await OnionTestNetwork.StartAsync(relays: 2, listen: "/ip4/127.0.0.1/tcp/0",
                destination: p2p => p2p.AddProtocol<Anonymity.EchoHandler>(),
                destinationHost: o => o.AnonymousConnectionProtocols.Add(Anonymity.EchoHandler.Protocol),
                // The defaults pad circuit links; the other run turns the scope off.
                configureAll: p2p => p2p.AddPadding(padded ? null : o => o.OnCircuitLinks = false),
                relayHost: (i, o) => o.AnnounceAddresses.Add(Multiaddr.Parse($"/ip4/127.0.0.1/tcp/{observers[i].Port}")));
            var recorder = new RecordingObserver();
            network.Relays[0].Relay.Observer = recorder;
            var path = network.Relays.Select(r => r.PeerId).ToList();

            var onion = await network.Client.Client.ConnectAsync(network.Destination.PeerId, new CircuitRequest { Pinned = path, Hops = 2 })
                .WaitAsync(Patience);
            // Messages of many sizes through the circuit: 1 byte, 10 KB, 100 KB.
            foreach (int size in new[] { 1, 10_000, 100_000 })
            {
                var payload = new byte[size];
                new Random(size).NextBytes(payload);
                await using var echo = await onion.Connection.OpenStreamAsync([Anonymity.EchoHandler.Protocol], CancellationToken.None)
                    .AsTask().WaitAsync(Patience);
                var reading = FixedSizeCellTests.ReadAllAsync(echo.Input);
                await echo.Output.WriteAsync(payload);
                await echo.Output.CompleteAsync();
                Assert.Equal(payload, await reading.WaitAsync(Patience));
            }
            await network.Client.Client.CloseCircuitAsync(onion.Circuit.Id);

            IReadOnlyList<string> expected = padded ? [PaddingFilter.Id] : [];
            Assert.All(network.Client.Host.GetConnections(path[0]), c => Assert.Equal(expected, c.Filters));
            Assert.Equal([expected], recorder.PreviousLinkFilters);
            Assert.Equal([expected], recorder.NextLinkFilters);
            foreach (var observer in observers)
            {
                // Noise XX: the dialer sends handshake messages 1 and 3, the listener message 2.
                foreach (var messages in new[]
                {
                    WireObserver.TransportMessages(observer.FromClient, 2),
                    WireObserver.TransportMessages(observer.FromServer, 1),
                })
                {
                    if (padded)
                    {
                        // The filter's selection (one or two messages), the hello, then only cells.
                        int hello = messages.IndexOf(HelloMessage);
                        Assert.InRange(hello, 0, 2);
                        var cells = messages[(hello + 1)..];
                        Assert.True(cells.Count >= 10, $"only {cells.Count} cells");
                        Assert.All(cells, length => Assert.Contains(length, DefaultCells));
                    }
                    else
                    {
                        Assert.True(messages.Count >= 10, $"only {messages.Count} messages");
                        Assert.Contains(messages, length => !DefaultCells.Contains(length));
                    }
                }
            }
        }
        finally
        {
            if (network is not null) await network.DisposeAsync();
            foreach (var observer in observers) await observer.DisposeAsync();
        }
    }

    [Fact]
    public async Task Existing_unpadded_connections_to_the_hops_are_left_to_their_traffic_and_padded_ones_carry_the_links()
    {
        await using var network = await OnionTestNetwork.StartAsync(relays: 2, configureAll: p2p => p2p.AddPadding());
        var client = network.Client;
        var (first, second) = (network.Relays[0], network.Relays[1]);
        var recorder = new RecordingObserver();
        first.Relay.Observer = recorder;
        // Ordinary (unpadded) connections first: the client to relay 0, relay 0 to relay 1.
        var plainFirst = await client.Host.DialAsync(first.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        var plainNext = await first.Host.DialAsync(second.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.Empty(plainFirst.Filters);
        Assert.Empty(plainNext.Filters);
        var path = network.Relays.Select(r => r.PeerId).ToList();

        var info = await client.Client.BuildCircuitAsync(new CircuitRequest { Pinned = path, Hops = 2 }, CancellationToken.None)
            .WaitAsync(Patience);
        var link = client.Client.Find(info.Id)!.Link.Stream.Connection;
        Assert.NotSame(plainFirst, link);
        Assert.Equal([PaddingFilter.Id], link.Filters);
        Assert.Equal([[PaddingFilter.Id]], recorder.PreviousLinkFilters);
        Assert.Equal([[PaddingFilter.Id]], recorder.NextLinkFilters);
        // The unpadded connections stay, beside the padded ones.
        Assert.False(plainFirst.Completion.IsCompleted);
        Assert.False(plainNext.Completion.IsCompleted);
        Assert.Equal(2, client.Host.GetConnections(first.PeerId).Count);

        // The next circuit over the same hops takes the padded connections.
        var again = await client.Client.BuildCircuitAsync(new CircuitRequest { Pinned = path, Hops = 2 }, CancellationToken.None)
            .WaitAsync(Patience);
        Assert.Same(link, client.Client.Find(again.Id)!.Link.Stream.Connection);
        Assert.Equal(2, client.Host.GetConnections(first.PeerId).Count);
        Assert.Equal(2, first.Host.GetConnections(second.PeerId).Count);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_hop_without_padding_is_refused_or_reached_without_it_by_policy_and_counted(bool required)
    {
        // Relay 0 pads, relay 1 has no padding module; the client pads.
        await using var network = await OnionTestNetwork.StartAsync(relays: 2,
            clientOptions: o => o.Client.BuildRetries = 0,
            configureRelay: (i, p2p) =>
            {
                if (i == 0) p2p.AddPadding(o => o.Required = required);
            },
            configureClients: p2p => p2p.AddPadding(o => o.Required = required));
        var client = network.Client;
        var (first, second) = (network.Relays[0], network.Relays[1]);
        var recorder = new RecordingObserver();
        first.Relay.Observer = recorder;
        var clientPadding = client.Get<PaddingMetrics>();
        var relayPadding = first.Get<PaddingMetrics>();

        // The client's link to relay 1, and relay 0's link to relay 1 on EXTEND.
        var direct = new CircuitRequest { Pinned = [second.PeerId], Hops = 1 };
        var through = new CircuitRequest { Pinned = [first.PeerId, second.PeerId], Hops = 2 };
        if (required)
        {
            await Assert.ThrowsAnyAsync<CircuitException>(() => client.Client.BuildCircuitAsync(direct, CancellationToken.None).WaitAsync(Patience));
            Assert.True(clientPadding.Refusals >= 1, "the client's refusal is counted");
            await Assert.ThrowsAnyAsync<CircuitException>(() => client.Client.BuildCircuitAsync(through, CancellationToken.None).WaitAsync(Patience));
            Assert.True(relayPadding.Refusals >= 1, "the relay's refusal is counted");
            Assert.Empty(recorder.NextLinkFilters);
            Assert.Equal(0, clientPadding.Fallbacks + relayPadding.Fallbacks);
        }
        else
        {
            var info = await client.Client.BuildCircuitAsync(direct, CancellationToken.None).WaitAsync(Patience);
            Assert.Empty(client.Client.Find(info.Id)!.Link.Stream.Connection.Filters);
            Assert.True(clientPadding.Fallbacks >= 1, "the client's fallback is counted");
            var extended = await client.Client.BuildCircuitAsync(through, CancellationToken.None).WaitAsync(Patience);
            Assert.Equal([PaddingFilter.Id], client.Client.Find(extended.Id)!.Link.Stream.Connection.Filters);
            Assert.Equal([(IReadOnlyList<string>)[]], recorder.NextLinkFilters);
            Assert.True(relayPadding.Fallbacks >= 1, "the relay's fallback is counted");
            Assert.Equal(0, clientPadding.Refusals + relayPadding.Refusals);
        }
    }
}
