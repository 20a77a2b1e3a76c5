using System.Net;
using P2PStack.Addressing;
using P2PStack.Discovery.Mdns.Dns;
using P2PStack.Identity;

namespace P2PStack.Discovery.Mdns.Tests;

public class MdnsResponderTests
{
    private static readonly PeerId Self = PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey);
    private static readonly IPAddress Lan = IPAddress.Parse("192.168.1.20");

    private static MdnsOptions Options(Action<MdnsOptions>? configure = null)
    {
        var options = new MdnsOptions { PeerName = "ourpeername0123456789abcdefghijklmn" };
        configure?.Invoke(options);
        return options;
    }

    private static readonly List<Multiaddr> Addresses =
        [Multiaddr.Parse("/ip4/192.168.1.5/tcp/4001"), Multiaddr.Parse("/ip6/fd00::5/tcp/4002/ws")];

    [Fact]
    public void RandomPeerNamesAreLowerAlphanumericsOf32To63()
    {
        for (int i = 0; i < 200; i++)
        {
            string name = MdnsResponder.RandomPeerName();
            Assert.InRange(name.Length, 32, 63);
            Assert.All(name, c => Assert.True(char.IsAsciiDigit(c) || char.IsAsciiLetterLower(c)));
        }
    }

    [Fact]
    public void AnswersTheJsQueryWithPtrAndDnsAddrTxtSrvAndAddressRecords()
    {
        var responder = new MdnsResponder(Self, Options());
        var response = responder.Answer(DnsMessageReader.Read(TestPackets.JsQuery), Addresses, legacyUnicast: false)!;
        Assert.True(response.IsResponse);
        var ptr = Assert.Single(response.Answers);
        Assert.Equal(("_p2p._udp.local", "ourpeername0123456789abcdefghijklmn._p2p._udp.local"), (ptr.Name, ((DnsPtrData)ptr.Data).Target));
        Assert.False(ptr.CacheFlush);
        var txt = Assert.Single(response.Additionals, r => r.Type == DnsRecordType.Txt);
        Assert.Equal(Addresses.Select(a => $"dnsaddr={a}/p2p/{Self}"), ((DnsTxtData)txt.Data).Strings.Select(s => System.Text.Encoding.UTF8.GetString(s)));
        var srv = (DnsSrvData)Assert.Single(response.Additionals, r => r.Type == DnsRecordType.Srv).Data;
        Assert.Equal((4001, "ourpeername0123456789abcdefghijklmn.local"), (srv.Port, srv.Target));
        Assert.Equal([IPAddress.Parse("192.168.1.5"), IPAddress.Parse("fd00::5")],
            response.Additionals.Where(r => r.Type is DnsRecordType.A or DnsRecordType.Aaaa).Select(r => ((DnsAddressData)r.Data).Address));
        Assert.All(response.Additionals, r => Assert.True(r.CacheFlush));
        Assert.All(response.Answers.Concat(response.Additionals), r => Assert.Equal(120u, r.Ttl));
    }

    [Fact]
    public void OurResponseParsesBackToUs()
    {
        var responder = new MdnsResponder(Self, Options());
        var packet = DnsMessageWriter.Write(responder.Answer(responder.Query(), Addresses, false)!);
        var peers = MdnsResponseParser.Parse(DnsMessageReader.Read(packet), Options(), "other._p2p._udp.local", NewPeer(), Lan);
        var peer = Assert.Single(peers);
        Assert.Equal(Self, peer.Peer);
        Assert.Equal(Addresses, peer.Addresses);
        // ...but never as ourselves: by instance name, and by peer id.
        Assert.Empty(MdnsResponseParser.Parse(DnsMessageReader.Read(packet), Options(), responder.InstanceName, NewPeer(), Lan));
        Assert.Empty(MdnsResponseParser.Parse(DnsMessageReader.Read(packet), Options(), "other._p2p._udp.local", Self, Lan));
    }

    [Fact]
    public void ParsesTheJsResponse()
    {
        var info = TestPackets.JsResponseInfo;
        var peers = MdnsResponseParser.Parse(DnsMessageReader.Read(TestPackets.JsResponse), Options(), "x._p2p._udp.local", Self, Lan);
        var peer = Assert.Single(peers);
        Assert.Equal(info.GetProperty("peerId").GetString(), peer.Peer.ToString());
        Assert.Equal(info.GetProperty("addresses").EnumerateArray().Select(a => Multiaddr.Parse(a.GetString()!).DecapsulateCode(MultiaddrProtocols.P2P.Code)),
            peer.Addresses);
    }

    [Fact]
    public void AnswersMetaAndDirectQueriesAndNothingElse()
    {
        var responder = new MdnsResponder(Self, Options());
        var meta = responder.Answer(DnsMessage.Query(new DnsQuestion(MdnsResponder.MetaQueryName, DnsRecordType.Ptr)), Addresses, false)!;
        Assert.Equal("_p2p._udp.local", ((DnsPtrData)Assert.Single(meta.Answers).Data).Target);
        Assert.Empty(meta.Additionals);
        var srv = responder.Answer(DnsMessage.Query(new DnsQuestion(responder.InstanceName.ToUpperInvariant(), DnsRecordType.Srv)), Addresses, false)!;
        Assert.Equal(DnsRecordType.Srv, Assert.Single(srv.Answers).Type);
        var host = responder.Answer(DnsMessage.Query(new DnsQuestion(responder.HostName, DnsRecordType.Any)), Addresses, false)!;
        Assert.Equal([DnsRecordType.A, DnsRecordType.Aaaa], host.Answers.Select(a => a.Type));
        Assert.Null(responder.Answer(DnsMessage.Query(new DnsQuestion("_http._tcp.local", DnsRecordType.Ptr)), Addresses, false));
        Assert.Null(responder.Answer(DnsMessage.Query(new DnsQuestion("_p2p._udp.local", DnsRecordType.Txt)), Addresses, false));
        Assert.Null(responder.Answer(responder.Query(), [], false));
    }

    [Fact]
    public void SuppressesKnownAnswersAndAnswersLegacyQueriersByUnicastRules()
    {
        var responder = new MdnsResponder(Self, Options());
        var ours = responder.Answer(responder.Query(), Addresses, false)!.Answers[0];
        var known = responder.Query() with { Answers = [ours with { Ttl = 100 }] };
        Assert.Null(responder.Answer(known, Addresses, false));
        Assert.NotNull(responder.Answer(known with { Answers = [ours with { Ttl = 30 }] }, Addresses, false));

        var legacy = responder.Answer(responder.Query() with { Id = 77 }, Addresses, legacyUnicast: true)!;
        Assert.Equal(77, legacy.Id);
        Assert.Single(legacy.Questions);
        Assert.All(legacy.Answers.Concat(legacy.Additionals), r => Assert.True(r is { CacheFlush: false, Ttl: 10 }));
    }

    [Theory]
    [InlineData("/ip4/192.168.1.5/tcp/4001", true)]
    [InlineData("/ip4/192.168.1.5/tcp/4001/ws", true)]
    [InlineData("/ip6/2001:db8::1/tcp/4001/wss", true)]
    [InlineData("/ip4/192.168.1.5/tcp/4001/p2p/12D3KooWE9JpTqj5ht2RHtxBXAfWLhzRJ54MfCbQSwQN5PPnF2LN", true)]
    [InlineData("/ip4/127.0.0.1/tcp/4001", false)]
    [InlineData("/ip6/::1/tcp/4001", false)]
    [InlineData("/ip4/0.0.0.0/tcp/4001", false)]
    [InlineData("/ip6/fe80::1/tcp/4001", false)]
    [InlineData("/ip4/192.168.1.5/udp/4001/quic-v1", false)]
    [InlineData("/dns4/example.com/tcp/4001", false)]
    [InlineData("/memory/1", false)]
    [InlineData("/ip4/192.168.1.5/tcp/4001/tls/ws", false)]
    public void AdvertisesOnlyIpTcpAndWebSocketAddresses(string address, bool advertised)
    {
        var selected = MdnsResponder.SelectAdvertised([Multiaddr.Parse(address)], includeLoopback: false, max: 8);
        Assert.Equal(advertised, selected.Count == 1);
        Assert.All(selected, a => Assert.False(a.Has(MultiaddrProtocols.P2P.Code)));
        Assert.Single(MdnsResponder.SelectAdvertised([Multiaddr.Parse("/ip4/127.0.0.1/tcp/1")], includeLoopback: true, max: 8));
    }

    [Fact]
    public void SkipsInvalidDnsAddrStringsGoodbyesForeignLoopbackAndLimits()
    {
        var other = NewPeer();
        var third = NewPeer();
        string instance = "peer._p2p._udp.local";
        byte[][] strings =
        [
            System.Text.Encoding.UTF8.GetBytes($"dnsaddr=/ip4/10.0.0.1/tcp/1/p2p/{other}"),
            System.Text.Encoding.UTF8.GetBytes($"dnsaddr=/ip4/10.0.0.1/tcp/1/p2p/{other}"), // duplicate
            System.Text.Encoding.UTF8.GetBytes($"dnsaddr=/ip4/127.0.0.1/tcp/2/p2p/{other}"), // loopback from a LAN source
            System.Text.Encoding.UTF8.GetBytes("dnsaddr=/ip4/10.0.0.1/tcp/3"), // no peer id
            System.Text.Encoding.UTF8.GetBytes("dnsaddr=/ip4/10.0.0.1/tcp/99999/p2p/x"), // bad multiaddr
            System.Text.Encoding.UTF8.GetBytes($"dnsaddr=/ip4/10.0.0.1/tcp/1/p2p/{third}/p2p-circuit/p2p/{other}"), // relayed
            System.Text.Encoding.UTF8.GetBytes($"other=/ip4/10.0.0.1/tcp/4/p2p/{other}"),
            [0x64, 0x6e, 0x73, 0x61, 0x64, 0x64, 0x72, 0x3d, 0xff],
            System.Text.Encoding.UTF8.GetBytes($"dnsaddr=/ip4/10.0.0.2/tcp/5/p2p/{third}"),
        ];
        var response = DnsMessage.Response(
            [new DnsRecord("_P2P._udp.local", DnsRecordType.Ptr, 120, new DnsPtrData(instance)),
             new DnsRecord("_p2p._udp.local", DnsRecordType.Ptr, 0, new DnsPtrData("gone._p2p._udp.local"))],
            [new DnsRecord(instance, DnsRecordType.Txt, 120, new DnsTxtData(strings)),
             new DnsRecord("gone._p2p._udp.local", DnsRecordType.Txt, 0, new DnsTxtData([System.Text.Encoding.UTF8.GetBytes($"dnsaddr=/ip4/10.9.9.9/tcp/1/p2p/{third}")]))]);
        var peers = MdnsResponseParser.Parse(response, Options(), "me._p2p._udp.local", Self, Lan);
        Assert.Equal([(other, "/ip4/10.0.0.1/tcp/1"), (third, "/ip4/10.0.0.2/tcp/5")],
            peers.SelectMany(p => p.Addresses.Select(a => (p.Peer, a.ToString()))));
        var limited = MdnsResponseParser.Parse(response, Options(o => o.MaxPeersPerPacket = 1), "me._p2p._udp.local", Self, Lan);
        Assert.Equal(other, Assert.Single(limited).Peer);
        var loopback = MdnsResponseParser.Parse(response, Options(o => o.IncludeLoopback = true), "me._p2p._udp.local", Self, IPAddress.Loopback);
        Assert.Contains(Multiaddr.Parse("/ip4/127.0.0.1/tcp/2"), loopback[0].Addresses);
        Assert.Empty(MdnsResponseParser.Parse(response with { Flags = 0 }, Options(), "me._p2p._udp.local", Self, Lan));
    }

    private static PeerId NewPeer() => PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey);
}
