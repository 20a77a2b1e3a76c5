using System.Net;
using P2PStack.Addressing;

namespace P2PStack.Core.Tests.Addressing;

public class MultiaddrCodecTests
{
    // Every row of multiformats/multiaddr protocols.csv (memory is fixed 64-bit as go and rust encode it).
    [Theory]
    [InlineData(4, 32, "ip4")]
    [InlineData(6, 16, "tcp")]
    [InlineData(273, 16, "udp")]
    [InlineData(33, 16, "dccp")]
    [InlineData(41, 128, "ip6")]
    [InlineData(42, -1, "ip6zone")]
    [InlineData(43, 8, "ipcidr")]
    [InlineData(53, -1, "dns")]
    [InlineData(54, -1, "dns4")]
    [InlineData(55, -1, "dns6")]
    [InlineData(56, -1, "dnsaddr")]
    [InlineData(132, 16, "sctp")]
    [InlineData(301, 0, "udt")]
    [InlineData(302, 0, "utp")]
    [InlineData(400, -1, "unix")]
    [InlineData(421, -1, "p2p")]
    [InlineData(421, -1, "ipfs")]
    [InlineData(444, 96, "onion")]
    [InlineData(445, 296, "onion3")]
    [InlineData(446, -1, "garlic64")]
    [InlineData(447, -1, "garlic32")]
    [InlineData(448, 0, "tls")]
    [InlineData(449, -1, "sni")]
    [InlineData(454, 0, "noise")]
    [InlineData(460, 0, "quic")]
    [InlineData(461, 0, "quic-v1")]
    [InlineData(465, 0, "webtransport")]
    [InlineData(466, -1, "certhash")]
    [InlineData(480, 0, "http")]
    [InlineData(481, -1, "http-path")]
    [InlineData(443, 0, "https")]
    [InlineData(477, 0, "ws")]
    [InlineData(478, 0, "wss")]
    [InlineData(479, 0, "p2p-websocket-star")]
    [InlineData(277, 0, "p2p-stardust")]
    [InlineData(275, 0, "p2p-webrtc-star")]
    [InlineData(276, 0, "p2p-webrtc-direct")]
    [InlineData(280, 0, "webrtc-direct")]
    [InlineData(281, 0, "webrtc")]
    [InlineData(290, 0, "p2p-circuit")]
    [InlineData(777, 64, "memory")]
    [InlineData(7367777, 0, "plaintextv2")]
    public void Protocol_table_matches_protocols_csv(int code, int size, string name)
    {
        Assert.True(MultiaddrProtocols.TryGet(name, out MultiaddrProtocol? byName));
        Assert.True(MultiaddrProtocols.TryGet(code, out MultiaddrProtocol? byCode));
        Assert.Same(byName, byCode);
        Assert.Equal(size, byName.SizeInBits);
        Assert.Equal(name == "ipfs" ? "p2p" : name, byName.Name);
        Assert.Equal(name == "unix", byName.IsPath);
        Assert.Equal(P2PStack.Encoding.Varint.Encode((ulong)code), byName.EncodedCode.ToArray());
    }

    [Fact]
    public void Protocol_lookup_misses()
    {
        Assert.False(MultiaddrProtocols.TryGet("IP4", out _));
        Assert.False(MultiaddrProtocols.TryGet(5, out _));
        Assert.Throws<ArgumentException>(() => MultiaddrProtocols.Get("nope"));
        Assert.Equal(MultiaddrProtocols.All.Count, MultiaddrProtocols.All.Select(p => p.Code).Distinct().Count());
    }

    [Theory]
    [InlineData("/ip4/01.2.3.4")]
    [InlineData("/ip4/1.2.3")]
    [InlineData("/ip4/1.2.3.4.5")]
    [InlineData("/ip4/256.1.1.1")]
    [InlineData("/ip4/1.2.3.4 ")]
    [InlineData("/ip4/ 1.2.3.4")]
    [InlineData("/ip4/x1.2.3.4")]
    [InlineData("/ip4/127.1")]
    [InlineData("/ip4/0x7f.0.0.1")]
    [InlineData("/ip4/1.2.3.")]
    [InlineData("/ip4/::ffff:1.2.3.4")]
    [InlineData("/ip6/1.2.3.4")]
    [InlineData("/ip6/::1%eth0")]
    [InlineData("/ip6/[::1]")]
    [InlineData("/ip6/1:2:3:4:5:6:7:8:9")]
    [InlineData("/ip6/1:2:3:4:5:6:7")]
    [InlineData("/ip6/1::2::3")]
    [InlineData("/ip6/12345::")]
    [InlineData("/ip6/:1::")]
    [InlineData("/ip6/1:")]
    [InlineData("/ip6/1:2:3:4:5:6:7:8::")]
    [InlineData("/ip6/::ffff:1.2.3")]
    [InlineData("/ip6/1:2:3:4:5:6:7:1.2.3.4")]
    [InlineData("/tcp/+80")]
    [InlineData("/tcp/-0")]
    [InlineData("/tcp/80a")]
    [InlineData("/tcp/99999999999999999999999")]
    [InlineData("/udp/")]
    [InlineData("/ipcidr/256")]
    [InlineData("/memory/18446744073709551616")]
    [InlineData("/memory/-1")]
    [InlineData("/dns/")]
    [InlineData("/dns4//tcp/1")]
    [InlineData("/unix/")]
    [InlineData("/http-path/%zz")]
    [InlineData("/http-path/%")]
    [InlineData("/garlic32/566NIXIMLXDZPANMN4QOUUCVUA3K7NENIWSS47LI5R6UGOERTZUQ")]
    [InlineData("/certhash/uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8")]
    [InlineData("/certhash/EiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g")]
    [InlineData("/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC0")]
    [InlineData("/p2p/zQmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC")]
    [InlineData("ip4/1.2.3.4")]
    [InlineData("//ip4/1.2.3.4")]
    [InlineData("/ip4/1.2.3.4//tcp/1")]
    [InlineData("/tcp/1/ws/80")]
    public void Rejects_bad_text(string text)
    {
        var e = Assert.Throws<MultiaddrException>(() => Multiaddr.Parse(text));
        Assert.Contains("failed to parse multiaddr", e.Message);
    }

    [Fact]
    public void Error_message_names_the_protocol_and_problem()
    {
        var e = Assert.Throws<MultiaddrException>(() => Multiaddr.Parse("/ip4/1.2.3.4/tcp/70000"));
        Assert.Contains("/tcp", e.Message);
        Assert.Contains("larger than 65535", e.Message);
        e = Assert.Throws<MultiaddrException>(() => Multiaddr.Decode(Convert.FromHexString("2a00")));
        Assert.Contains("/ip6zone", e.Message);
        Assert.Contains("empty", e.Message);
    }

    [Theory]
    [InlineData("/ip6/::", "/ip6/::")]
    [InlineData("/ip6/1::", "/ip6/1::")]
    [InlineData("/ip6/1:0:0:1:0:0:0:1", "/ip6/1:0:0:1::1")]
    [InlineData("/ip6/1:0:0:0:1:0:0:1", "/ip6/1::1:0:0:1")]
    [InlineData("/ip6/1:0:1:0:1:0:1:0", "/ip6/1:0:1:0:1:0:1:0")]
    [InlineData("/ip6/FE80::ABCD", "/ip6/fe80::abcd")]
    [InlineData("/ip6/::FFFF:10.0.0.1", "/ip6/::ffff:10.0.0.1")]
    [InlineData("/ip6/0:0:0:0:0:ffff:a00:1", "/ip6/::ffff:10.0.0.1")]
    [InlineData("/ip6/1:2:3:4:5:6:7::", "/ip6/1:2:3:4:5:6:7:0")]
    [InlineData("/ip6/1:2:3:4:5:6:1.2.3.4", "/ip6/1:2:3:4:5:6:102:304")]
    [InlineData("/tcp/0080", "/tcp/80")]
    [InlineData("/memory/18446744073709551615", "/memory/18446744073709551615")]
    [InlineData("/onion/TIMAQ4YGG2IEGCI7:80", "/onion/timaq4ygg2iegci7:80")]
    [InlineData("/unix/a/b/", "/unix/a/b")]
    [InlineData("/unix//a", "/unix//a")]
    [InlineData("/http-path/a+b%20c%2fd", "/http-path/a+b+c%2Fd")]
    [InlineData("/http-path/%C3%A9%00", "/http-path/%C3%A9%00")]
    [InlineData("/dns/\u00e9xample.com", "/dns/\u00e9xample.com")]
    [InlineData("/certhash/f1220c3ab8ff13720e8ad9047dd39466b3c8974e592c2fa383d4a3960714caef0c4f2", "/certhash/uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g")]
    [InlineData("/certhash/zQmbWTwYGcmdyK9CYfNBcfs9nhZs17a6FQ4Y8oea278xx41", "/certhash/uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g")]
    [InlineData("/ip4/1.2.3.4/tcp/80/", "/ip4/1.2.3.4/tcp/80")]
    [InlineData("/ip4/1.2.3.4/tcp/80///", "/ip4/1.2.3.4/tcp/80")]
    public void Prints_canonical_text(string input, string canonical)
    {
        Multiaddr m = Multiaddr.Parse(input);
        Assert.Equal(canonical, m.ToString());
        Assert.Equal(m, Multiaddr.Parse(canonical));
    }

    [Fact]
    public void Ip6_text_agrees_with_dotnet_except_ipv4_compatible_forms()
    {
        var random = new Random(7);
        var bytes = new byte[16];
        for (int i = 0; i < 2000; i++)
        {
            random.NextBytes(bytes);
            // Zero some groups to exercise "::" placement.
            for (int g = 0; g < 8; g++) if (random.Next(3) == 0) bytes[2 * g] = bytes[2 * g + 1] = 0;
            if (bytes.AsSpan(0, 12).IndexOfAnyExcept((byte)0) < 0) continue; // .NET prints ::a.b.c.d there
            var address = new IPAddress(bytes);
            Multiaddr m = MultiaddrComponent.FromIPAddress(address).ToMultiaddr();
            Assert.Equal("/ip6/" + address, m.ToString());
            Assert.Equal(address, m.GetIPAddress());
        }
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("05", "unknown protocol code 5")]
    [InlineData("047f0000", "truncated")]
    [InlineData("047f00000106", "truncated")]
    [InlineData("80", "bad protocol code")]
    [InlineData("8400", "bad protocol code")]          // non-minimal varint code (4)
    [InlineData("ffffffffffffffff7f", "unknown protocol code")]
    [InlineData("ffffffffffffffffff01", "bad protocol code")]
    [InlineData("3800", "empty")]                       // dnsaddr with length 0
    [InlineData("380561", "claims 5 bytes")]
    [InlineData("388000", "bad /dnsaddr value length")] // non-minimal length
    [InlineData("38ffffffffffffffff7f61", "claims")]   // length overflow
    [InlineData("38", "bad /dnsaddr value length")]
    [InlineData("3801ff", "UTF-8")]
    [InlineData("38012f", "'/'")]
    [InlineData("2a00", "empty")]
    [InlineData("2a012f", "'/'")]
    [InlineData("900302612f", "path must")]              // unix "a/"
    [InlineData("9003022f2f", "path must not end")]
    [InlineData("9003012f", "too short")]
    [InlineData("9003022f610604d2", "must be last")]     // /unix/a then /tcp
    [InlineData("bc030010c0439831b48218480000", "port must not be 0")]
    [InlineData("bf031f" + "00000000000000000000000000000000000000000000000000000000000000", "32 or at least 35")]
    [InlineData("a50302", "claims")]
    [InlineData("a503021220", "truncated")]
    [InlineData("a50322122000000000000000000000000000000000000000000000000000000000000000", "claims 34 bytes")]
    [InlineData("a503031201aa", "expected 32")]
    [InlineData("a50303110100", "neither sha2-256 nor identity")]
    [InlineData("d20300", "empty")]
    [InlineData("d203021201", "certhash")]
    [InlineData("e10300", "empty")]
    public void Rejects_bad_bytes(string hex, string messagePart)
    {
        var e = Assert.Throws<MultiaddrException>(() => Multiaddr.Decode(Convert.FromHexString(hex)));
        Assert.Contains(messagePart, e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.False(Multiaddr.TryDecode(Convert.FromHexString(hex), out _));
    }

    [Fact]
    public void Size_is_capped()
    {
        string name = new('a', 200);
        string text = string.Concat(Enumerable.Repeat("/dns/" + name, 6)); // 6 * 203 bytes
        var e = Assert.Throws<MultiaddrException>(() => Multiaddr.Parse(text));
        Assert.Contains("longer than 1024 bytes", e.Message);
        Multiaddr big = Multiaddr.Parse(text, 2048);
        Assert.Equal(1218, big.Bytes.Length);
        Assert.Throws<MultiaddrException>(() => Multiaddr.Decode(big.Bytes.Span));
        Assert.Equal(big, Multiaddr.Decode(big.Bytes.Span, 2048));
        Assert.Throws<MultiaddrException>(() => Multiaddr.Parse(new string('/', 5000) + "ip4/1.2.3.4"));

        Multiaddr half = Multiaddr.Parse(string.Concat(Enumerable.Repeat("/dns/" + name, 3)));
        Assert.Throws<MultiaddrException>(() => half.Encapsulate(half));
    }

    [Fact]
    public void Path_protocol_must_be_last_when_combining()
    {
        Multiaddr unix = Multiaddr.Parse("/unix/tmp/sock");
        Assert.Equal("/tmp/sock", unix.ValueOf(MultiaddrProtocols.Unix));
        Assert.Throws<MultiaddrException>(() => unix.Encapsulate("/tcp/1"));
        Assert.Equal("/ip4/1.2.3.4/unix/tmp/sock", Multiaddr.Parse("/ip4/1.2.3.4").Encapsulate(unix).ToString());
    }

    [Fact]
    public void Empty_and_join()
    {
        Multiaddr a = Multiaddr.Parse("/ip4/1.2.3.4");
        Assert.Equal("", Multiaddr.Empty.ToString());
        Assert.True(Multiaddr.Empty.Bytes.IsEmpty);
        Assert.Same(a, Multiaddr.Empty.Encapsulate(a));
        Assert.Same(a, a.Encapsulate(Multiaddr.Empty));
        Assert.Same(Multiaddr.Empty, Multiaddr.Join());
        Assert.Equal("/ip4/1.2.3.4/tcp/1/ws", Multiaddr.Join(a, Multiaddr.Empty, Multiaddr.Parse("/tcp/1"), Multiaddr.Parse("/ws")).ToString());
        Assert.Same(Multiaddr.Empty, Multiaddr.Empty.Decapsulate(a));
        Assert.Throws<MultiaddrException>(() => Multiaddr.Parse(""));
        Assert.Throws<MultiaddrException>(() => Multiaddr.Parse("/"));
        Assert.False(Multiaddr.TryParse(null, out _));
    }

    [Fact]
    public void Components_and_accessors()
    {
        Multiaddr m = Multiaddr.Parse("/ip6/::1/udp/4001/quic-v1/p2p/12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV");
        Assert.Equal(IPAddress.IPv6Loopback, m.GetIPAddress());
        Assert.Equal(4001, m.Find(MultiaddrProtocols.Udp.Code)!.ToPort());
        Assert.Throws<InvalidOperationException>(() => m.Components[2].ToPort());
        Assert.Throws<InvalidOperationException>(() => m.Components[1].ToIPAddress());
        Assert.Null(Multiaddr.Parse("/dns/x/tcp/1").GetIPAddress());

        var built = Multiaddr.FromComponents(
        [
            MultiaddrComponent.FromIPAddress(IPAddress.Parse("10.1.2.3")),
            MultiaddrComponent.FromPort(MultiaddrProtocols.Tcp, 443),
            MultiaddrComponent.Create(MultiaddrProtocols.Tls, null),
            MultiaddrComponent.Create(MultiaddrProtocols.Sni, "example.com"),
            MultiaddrComponent.Create(MultiaddrProtocols.Ws, ""),
        ]);
        Assert.Equal("/ip4/10.1.2.3/tcp/443/tls/sni/example.com/ws", built.ToString());
        Assert.Equal(built, Multiaddr.Parse(built.ToString()));
        Assert.Equal(MultiaddrComponent.Create(MultiaddrProtocols.Tcp, "443"), built.Components[1]);
        Assert.Equal(MultiaddrComponent.Create(MultiaddrProtocols.Tcp, "443").GetHashCode(), built.Components[1].GetHashCode());
        Assert.Throws<MultiaddrException>(() => MultiaddrComponent.Create(MultiaddrProtocols.Ws, "x"));
        Assert.Throws<MultiaddrException>(() => MultiaddrComponent.Create(MultiaddrProtocols.Tcp, null));
        Assert.Throws<MultiaddrException>(() => MultiaddrComponent.FromRawValue(MultiaddrProtocols.Ip4, [1, 2, 3]));
        Assert.Throws<MultiaddrException>(() => MultiaddrComponent.FromRawValue(MultiaddrProtocols.Dns, []));
        Assert.Throws<ArgumentException>(() => MultiaddrComponent.FromPort(MultiaddrProtocols.Ip4, 1));

        byte[] copy = built.ToBytes();
        copy[1] ^= 0xff;
        Assert.Equal(built, Multiaddr.Parse("/ip4/10.1.2.3/tcp/443/tls/sni/example.com/ws")); // ToBytes is a copy
    }
}
