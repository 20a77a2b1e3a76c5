using System.Net;
using System.Net.Sockets;
using Google.Protobuf;
using P2PStack.Addressing;
using P2PStack.IO;
using P2PStack.Nat.AutoNat.Pb.V2;
using P2PStack.Nat.Testing;
using P2PStack.Network;

namespace P2PStack.Nat.AutoNat.Tests;

/// <summary>AutoNAT v1 and v2 between real hosts on loopback (private addresses allowed by option: on the internet
/// they are refused; the namespace tests use public addresses).</summary>
public sealed class AutoNatTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private TestPeer _server = null!;
    private TestPeer _client = null!;
    private MetricCapture _metrics = null!;

    public async Task InitializeAsync()
    {
        _metrics = new MetricCapture(AutoNatMetrics.MeterName);
        _server = await TestPeer.StartAsync(p => p.AddAutoNat(o =>
        {
            o.AllowPrivateAddresses = true;
            o.EnableClient = false;
            o.MinDialDataBytes = 30_000;
            o.MaxDialDataBytesAsked = 40_000;
            o.DialBackTimeout = TimeSpan.FromSeconds(5); // the dial to a listener that speaks no libp2p ends here
        }));
        _client = await TestPeer.StartAsync(p => p.AddAutoNat(o =>
        {
            o.AllowPrivateAddresses = true;
            o.EnableServer = false;
            o.EnableClient = false; // probes are driven by the tests
            o.DialBackTimeout = TimeSpan.FromSeconds(10);
        }));
        await _client.ConnectAsync(_server, new CancellationTokenSource(Timeout).Token);
    }

    public async Task DisposeAsync()
    {
        await _client.DisposeAsync();
        await _server.DisposeAsync();
        _metrics.Dispose();
    }

    private static CancellationToken Ct() => new CancellationTokenSource(Timeout).Token;

    private AutoNatClient Client => _client.Get<AutoNatClient>();

    private Multiaddr ClientListen => _client.Host.ListenAddresses[0];

    [Fact]
    public async Task V2ReachableAddressIsConfirmedByTheNonceOnADialBack()
    {
        var result = await Client.ProbeV2Async(_server.Host.PeerId, [ClientListen], Ct());
        Assert.True(result.Reachable);
        Assert.Equal(ClientListen, result.Address);
        Assert.Equal(1, _metrics.Sum("p2pstack_autonat_server_requests_total", "version=2", "result=dial_ok"));
        Assert.Equal(0, _metrics.Sum("p2pstack_autonat_server_requests_total", "result=dial_data_requested"));
    }

    [Fact]
    public async Task V2AddressWhereNothingListensIsUnreachable()
    {
        var closed = Multiaddr.Parse($"/ip4/127.0.0.1/tcp/{UnusedPort(IPAddress.Loopback)}");
        var result = await Client.ProbeV2Async(_server.Host.PeerId, [closed], Ct());
        Assert.False(result.Reachable);
        Assert.Equal(closed, result.Address);
    }

    [Fact]
    public async Task V2ServerSkipsAddressesItMayNotDialAndTakesTheFirstItMay()
    {
        var relayed = Multiaddr.Parse($"/ip4/127.0.0.1/tcp/1/p2p/{_server.Host.PeerId}/p2p-circuit");
        var udp = Multiaddr.Parse("/ip4/127.0.0.1/udp/1/quic-v1");
        var result = await Client.ProbeV2Async(_server.Host.PeerId, [relayed, udp, ClientListen], Ct());
        Assert.True(result.Reachable);
        Assert.Equal(ClientListen, result.Address);
    }

    [Fact]
    public async Task V2ThirdPartyAddressIsDialedOnlyAfterTheDialDataArrived()
    {
        // 127.0.0.2 is another IP than the one the client connects from (127.0.0.1): a third party's, as far as the
        // server can tell. A client that will not pay gets nothing dialed.
        using var victim = new TcpListener(IPAddress.Parse("127.0.0.2"), 0);
        victim.Start();
        var third = Multiaddr.Parse($"/ip4/127.0.0.2/tcp/{((IPEndPoint)victim.LocalEndpoint).Port}");
        var stingy = await TestPeer.StartAsync(p => p.AddAutoNat(o =>
        {
            o.AllowPrivateAddresses = true;
            o.EnableServer = false;
            o.EnableClient = false;
            o.MaxDialDataBytes = 10_000;
        }));
        await using (stingy)
        {
            await stingy.ConnectAsync(_server, Ct());
            var refused = await Assert.ThrowsAsync<AutoNatDialDataRefusedException>(() =>
                stingy.Get<AutoNatClient>().ProbeV2Async(_server.Host.PeerId, [third], Ct()));
            Assert.InRange(refused.Asked, 30_000UL, 40_000UL);
            await Poll.UntilAsync(() => _metrics.Sum("p2pstack_autonat_server_requests_total", "result=dial_data_refused") == 1);
            Assert.False(victim.Pending()); // nothing was dialed
        }

        // A client that pays: the server dials the address (here it accepts TCP but speaks no libp2p: a dial error).
        var paid = await Client.ProbeV2Async(_server.Host.PeerId, [third], Ct());
        Assert.False(paid.Reachable);
        Assert.True(victim.Pending());
        Assert.Equal(1, _metrics.Sum("p2pstack_autonat_server_requests_total", "result=dial_data_requested") - 1); // asked twice
    }

    [Fact]
    public async Task V2ServerThatClaimsSuccessWithoutDialingBackIsNotBelieved()
    {
        var liar = await TestPeer.StartAsync(p => p.AddProtocol<LyingServer>());
        await using (liar)
        {
            await _client.ConnectAsync(liar, Ct());
            var error = await Assert.ThrowsAsync<AutoNatFormatException>(() => Client.ProbeV2Async(liar.Host.PeerId, [ClientListen], Ct()));
            Assert.Contains("nonce never arrived", error.Message);
        }
    }

    [Fact]
    public async Task V1DialsBackOnlyTheRequestersOwnIp()
    {
        var ok = await Client.ProbeV1Async(_server.Host.PeerId, [ClientListen], Ct());
        Assert.True(ok.Reachable);
        Assert.Equal(ClientListen, ok.Address);

        var third = Multiaddr.Parse($"/ip4/127.0.0.2/tcp/{UnusedPort(IPAddress.Parse("127.0.0.2"))}");
        var refused = await Assert.ThrowsAsync<AutoNatRefusedException>(() => Client.ProbeV1Async(_server.Host.PeerId, [third], Ct()));
        Assert.Equal("EDialRefused", refused.Status);
        Assert.Equal(1, _metrics.Sum("p2pstack_autonat_server_requests_total", "version=1", "result=refused_address"));
    }

    [Fact]
    public async Task MalformedAndOversizedRequestsAreResetAndCounted()
    {
        var stream = await _client.Host.OpenStreamAsync(_server.Host.PeerId, [AutoNatProtocol.V2DialRequest], Ct());
        await using (stream)
        {
            LengthPrefixed.WritePrefix(stream.Output, 1 << 20); // announces 1 MiB
            await stream.Output.FlushAsync();
            await Assert.ThrowsAnyAsync<Exception>(async () => await stream.Input.ReadAsync(Ct()).AsTask().ContinueWith(t =>
            {
                if (t.Result.IsCompleted) throw new EndOfStreamException();
            }));
        }
        var garbage = await _client.Host.OpenStreamAsync(_server.Host.PeerId, [AutoNatProtocol.V1], Ct());
        await using (garbage)
        {
            LengthPrefixed.WriteMessage(garbage.Output, [0xFF, 0xFF, 0xFF]);
            await garbage.Output.FlushAsync();
        }
        await Poll.UntilAsync(() => _metrics.Sum("p2pstack_autonat_server_requests_total", "result=bad_request") == 2);
    }

    [Fact]
    public async Task RequestsBeyondThePerPeerRateAreRefused()
    {
        for (int i = 0; i < 4; i++) await Client.ProbeV2Async(_server.Host.PeerId, [ClientListen], Ct());
        await Assert.ThrowsAsync<AutoNatRefusedException>(() => Client.ProbeV2Async(_server.Host.PeerId, [ClientListen], Ct()));
        Assert.Equal(1, _metrics.Sum("p2pstack_autonat_server_requests_total", "result=refused_rate"));
    }

    [Fact]
    public async Task ServiceRoundFeedsTheTracker()
    {
        var service = _client.Get<AutoNatService>();
        var results = await service.ProbeRoundAsync(Ct());
        Assert.NotEmpty(results);
        Assert.All(results, r => Assert.True(r.Reachable));
        Assert.Equal(Reachability.Unknown, service.Reachability); // one server: below the 3 confirmations
    }

    private static int UnusedPort(IPAddress ip)
    {
        using var probe = new TcpListener(ip, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }


    /// <summary>Answers every request "dialed you, it worked" without dialing.</summary>
    public sealed class LyingServer : IProtocolHandler
    {
        public IReadOnlyList<string> Protocols { get; } = [AutoNatProtocol.V2DialRequest];

        public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
        {
            await using (stream)
            {
                await ProtobufFraming.ReadAsync(stream.Input, Message.Parser, 8192, (r, e) => new AutoNatFormatException(r, e), cancellationToken);
                await ProtobufFraming.WriteAsync(stream.Output, new Message
                {
                    DialResponse = new DialResponse { Status = DialResponse.Types.ResponseStatus.Ok, AddrIdx = 0, DialStatus = DialStatus.Ok },
                }, cancellationToken);
                await stream.Output.CompleteAsync();
            }
        }
    }
}
