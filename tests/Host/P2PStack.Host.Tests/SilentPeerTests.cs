using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Discovery.Rendezvous;
using P2PStack.Nat.AutoNat;
using P2PStack.Nat.Dcutr;
using P2PStack.Nat.Relay;
using P2PStack.Network;
using P2PStack.Protocols.Identify;
using P2PStack.Protocols.Kademlia;
using P2PStack.Protocols.Kademlia.Hosting;
using P2PStack.Protocols.Ping;
using P2PStack.Transports.Memory;

namespace P2PStack.Host.Tests;

/// <summary>
/// Idle timeouts on the stream protocols (issue 18): a peer opens a stream, lets it be negotiated and then says nothing.
/// The server must end the stream after the protocol's timeout (set short through its options) and release it in the
/// resource manager. Only a generous upper bound is checked, never the timing. DCUtR runs only on limited connections:
/// its case goes through a circuit relay v2 (relay and peers on the memory transport). Perf and neural have their own tests
/// (PerfAttackTests, Neural's HostileSenderTests); GossipSub and signaling streams are long-lived by design (see
/// docs/architecture.md, "Idle timeouts").
/// </summary>
public sealed class SilentPeerTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Short = TimeSpan.FromMilliseconds(300);

    public static TheoryData<string> Protocols =>
    [
        PingProtocol.Id,
        IdentifyProtocol.PushId,
        KadProtocol.DefaultProtocolId,
        RendezvousProtocol.Id,
        RelayProtocol.Hop,
        RelayProtocol.Stop,
        AutoNatProtocol.V1,
        AutoNatProtocol.V2DialRequest,
    ];

    private static void Serve(IP2PBuilder p2p, string protocol)
    {
        switch (protocol)
        {
            case PingProtocol.Id:
                p2p.Services.Configure<PingOptions>(o => o.IdleTimeout = Short);
                break;
            case IdentifyProtocol.PushId:
                p2p.Services.Configure<IdentifyOptions>(o => o.Timeout = Short);
                break;
            case KadProtocol.DefaultProtocolId:
                p2p.AddKademlia(o => o.InboundStreamIdleTimeout = Short);
                break;
            case RendezvousProtocol.Id:
                p2p.AddRendezvousServer(o => o.StreamIdleTimeout = Short);
                break;
            case RelayProtocol.Hop:
            case RelayProtocol.Stop:
                p2p.AddCircuitRelay(s =>
                {
                    s.Enabled = true;
                    s.HandshakeTimeout = Short;
                }, c => c.RequestTimeout = Short);
                break;
            case AutoNatProtocol.V1: // v1 waits two dial-back timeouts, v2 a dial-back and a probe timeout
            case AutoNatProtocol.V2DialRequest:
                p2p.AddAutoNat(o =>
                {
                    o.EnableServer = true;
                    o.DialBackTimeout = Short;
                    o.ProbeTimeout = Short;
                });
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(protocol), protocol, null);
        }
    }

    [Theory]
    [MemberData(nameof(Protocols))]
    public async Task A_silent_peers_stream_is_closed_after_the_idle_timeout_and_released(string protocol)
    {
        var network = new MemoryNetwork();
        await using var server = await TestPeer.StartAsync("/memory/0", network, configure: p2p => Serve(p2p, protocol));
        // The DHT's handler is added by its hosted service (server mode), which would also start querying: added alone.
        using var kad = protocol == KadProtocol.DefaultProtocolId ? server.Host.AddHandler(server.Get<KadStreamHandler>()) : null;
        await using var client = await TestPeer.StartAsync("/memory/0", network);
        var connection = await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);

        // Two proposals: negotiated at once (a single one would be lazy and wait for our first bytes).
        var stream = await connection.OpenStreamAsync([protocol, "/test/none/1.0.0"], CancellationToken.None).AsTask().WaitAsync(Patience);
        try
        {
            Assert.Equal(protocol, stream.Protocol);
            // We write nothing and never close (until the end of the test): only the server's timeout can end the stream.
            await ReadToEndAsync(stream).WaitAsync(Patience);

            // The server ran the protocol (its scope exists) and, while we still hold our end, holds no stream of it.
            var deadline = DateTime.UtcNow + Patience;
            ResourceScopeStat Scope() => server.Host.Resources.Snapshot().Single(s => s.Name == $"protocol {protocol}");
            while (Scope().Usage.Streams != 0)
            {
                Assert.True(DateTime.UtcNow < deadline, $"the server still holds a {protocol} stream");
                await Task.Delay(20);
            }
        }
        finally
        {
            await stream.DisposeAsync();
        }
    }

    /// <summary>What the silent DCUtR initiator does before it stops talking.</summary>
    public enum DcutrSilence
    {
        /// <summary>Opens the stream and sends nothing (the responder waits for CONNECT).</summary>
        Open,

        /// <summary>Sends CONNECT, reads the answer, and never sends SYNC.</summary>
        Connect,
    }

    [Theory]
    [InlineData(DcutrSilence.Open)]
    [InlineData(DcutrSilence.Connect)]
    public async Task A_silent_DCUtR_initiator_on_a_relayed_connection_is_cut_off_after_the_stream_timeout_and_released(DcutrSilence silence)
    {
        var network = new MemoryNetwork();
        await using var relay = await TestPeer.StartAsync("/memory/0", network, configure: p2p => p2p.AddCircuitRelay(s => s.Enabled = true));
        // The silent peer (B) is reached through the relay, so it is the one that opens the DCUtR stream (the spec's
        // initiator). It runs no DCUtR of its own.
        await using var silent = await TestPeer.StartAsync("/memory/0", network, configure: p2p => p2p.AddCircuitRelay(),
            options: o => o.LimitedConnectionProtocols.Add(DcutrProtocol.Id));
        // The DCUtR side (A, the responder) dials B through the relay. Private addresses allowed: the CONNECT below
        // carries a loopback one, so the responder also registers (and must drop) its expectation of a simultaneous open.
        await using var server = await TestPeer.StartAsync("/memory/0", network, configure: p2p => p2p.AddCircuitRelay().AddDcutr(o =>
        {
            o.StreamTimeout = Short;
            o.AllowPrivateAddresses = true;
        }));
        // The reservation manager also listens for the relay's stop requests (its hosted service is not started).
        await silent.Get<RelayReservationManager>().ReserveAsync(relay.Address, CancellationToken.None).WaitAsync(Patience);
        var circuit = relay.Address.Encapsulate($"/p2p-circuit/p2p/{silent.Host.PeerId}");
        var relayed = await server.Host.DialAsync(circuit, new DialOptions { AllowLimited = true }, CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.True(relayed.IsLimited);
        var connection = await WaitForAsync(() => silent.Host.GetConnections(server.Host.PeerId).FirstOrDefault(c => c.IsLimited),
            "the relayed connection at the silent peer");

        var stream = await connection.OpenStreamAsync([DcutrProtocol.Id, "/test/none/1.0.0"], CancellationToken.None).AsTask().WaitAsync(Patience);
        try
        {
            Assert.Equal(DcutrProtocol.Id, stream.Protocol);
            if (silence == DcutrSilence.Connect)
            {
                await DcutrProtocol.WriteConnectAsync(stream.Output, [Multiaddr.Parse("/ip4/127.0.0.1/tcp/4001")], CancellationToken.None).WaitAsync(Patience);
                await DcutrProtocol.ReadConnectAsync(stream.Input, CancellationToken.None).WaitAsync(Patience); // the responder's answer
            }
            // No (further) message and no close: only the responder's StreamTimeout can end the stream.
            await ReadToEndAsync(stream).WaitAsync(Patience);

            await UntilAsync(() => server.Host.Resources.Snapshot().Single(s => s.Name == $"protocol {DcutrProtocol.Id}").Usage.Streams == 0,
                $"the server to release its {DcutrProtocol.Id} stream");
            // The responder gave up this exchange (no dial: SYNC never came) and keeps no state for the peer.
            Assert.False(server.Get<DcutrService>().IsResponding(silent.Host.PeerId));
            var result = server.Get<DcutrService>().LastResult(silent.Host.PeerId);
            Assert.NotNull(result);
            Assert.False(result.Success);
            Assert.Equal(0, result.Attempts);
            Assert.False(relayed.Completion.IsCompleted); // the relayed connection itself lives on
        }
        finally
        {
            await stream.DisposeAsync();
        }
    }

    private static Task UntilAsync(Func<bool> condition, string what) => WaitForAsync(() => condition() ? what : null, what);

    private static async Task<T> WaitForAsync<T>(Func<T?> probe, string what) where T : class
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            if (probe() is { } value) return value;
            Assert.True(DateTime.UtcNow < deadline, $"waited {Patience} for {what}");
            await Task.Delay(20);
        }
    }

    /// <summary>Reads until the remote ends the stream (a close, or a reset).</summary>
    private static async Task ReadToEndAsync(IStream stream)
    {
        try
        {
            while (true)
            {
                var result = await stream.Input.ReadAsync();
                stream.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted) return;
            }
        }
        catch (Exception e) when (e is StreamResetException or IOException)
        {
        }
    }
}
