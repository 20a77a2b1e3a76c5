using P2PStack.Addressing;
using static P2PStack.Core.Tests.Addressing.GoMultiaddrVectors;

namespace P2PStack.Core.Tests.Addressing;

/// <summary>Ports of go-multiaddr's multiaddr_test.go.</summary>
public class GoMultiaddrTests
{
    // The index keeps each row its own test case: xunit shortens long strings in test ids, and rows that share a
    // prefix would otherwise be skipped as duplicates.
    public static TheoryData<int, string> FailCases() => Indexed(ConstructFails);
    public static TheoryData<int, string> GoodCases() => Indexed(Good);

    private static TheoryData<int, string> Indexed(IEnumerable<string> rows)
    {
        var data = new TheoryData<int, string>();
        int i = 0;
        foreach (var row in rows) data.Add(i++, row);
        return data;
    }

    [Theory]
    [MemberData(nameof(FailCases))]
    public void Construct_fails(int row, string text)
    {
        Assert.Throws<MultiaddrException>(() => Multiaddr.Parse(text));
        Assert.False(Multiaddr.TryParse(text, out _), $"go row {row} parsed: {text}");
    }

    [Theory]
    [MemberData(nameof(GoodCases))]
    public void Construct_succeeds_and_round_trips(int row, string text)
    {
        Assert.True(Multiaddr.TryParse(text, out _), $"go row {row} did not parse: {text}");
        Multiaddr parsed = Multiaddr.Parse(text);
        // roundTripBytes / roundTripString of go's fuzzers
        Multiaddr fromBytes = Multiaddr.Decode(parsed.Bytes.Span);
        Assert.Equal(parsed, fromBytes);
        Assert.Equal(parsed.ToString(), fromBytes.ToString());
        Multiaddr fromText = Multiaddr.Parse(parsed.ToString());
        Assert.Equal(parsed, fromText);
        Assert.Equal(parsed.GetHashCode(), fromText.GetHashCode());
    }

    [Fact]
    public void Empty_binary_fails() => Assert.Throws<MultiaddrException>(() => Multiaddr.Decode([]));

    [Fact]
    public void Equal()
    {
        var m1 = Multiaddr.Parse("/ip4/127.0.0.1/udp/1234");
        var m2 = Multiaddr.Parse("/ip4/127.0.0.1/tcp/1234");
        var m3 = Multiaddr.Parse("/ip4/127.0.0.1/tcp/1234");
        var m4 = Multiaddr.Parse("/ip4/127.0.0.1/tcp/1234/");
        Assert.NotEqual(m1, m2);
        Assert.NotEqual(m2, m1);
        Assert.Equal(m2, m3);
        Assert.True(m3 == m2);
        Assert.Equal(m1, m1);
        Assert.Equal(m2, m4);
        Assert.Equal(m4, m3);
        Assert.True(m1 != m2);
    }

    // TestStringToBytes / TestBytesToString
    [Theory]
    [InlineData("/ip4/127.0.0.1/udp/1234", "047f000001910204d2")]
    [InlineData("/ip4/127.0.0.1/tcp/4321", "047f0000010610e1")]
    [InlineData("/ip4/127.0.0.1/udp/1234/ip4/127.0.0.1/tcp/4321", "047f000001910204d2047f0000010610e1")]
    [InlineData("/onion/aaimaq4ygg2iegci:80", "bc030010c0439831b48218480050")]
    [InlineData("/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:1234", "bd03adadec040be047f9658668b11a504f3155001f231a37f54c4476c07fb4cc139ed7e30304d2")]
    [InlineData("/garlic64/" + G64, "be0383038d3fc8c976a86ae4e78ba378e75ec41bc9ab1542a9cb422581987e118f5cb0c024f3639d6ad9b3aff613672f07bfbbbfc2f920ef910534ecaa6ff9c03e0fa4872a764d2fce6d4cfc5a5a9800cd95944cc9ef0241f753fe71494a175f334b35682459acadc4076428ab49b5a83a49d2ea2366b06461e4a559b0111fa750e0de0c138a94d1231ed5979572ff53922905636221994bdabc44bd0c17fef11622b16432db3f193400af53cc61aa9bfc0c4c8d874b41a6e18732f0b60f5662ef1a89c80589dd8366c90bb58bb85ead56356aba2a244950ca170abbd01094539014f84bdd383e4a10e00cee63dfc3e809506e2d9b54edbdca1bace6eaa119e68573d30533791fba830f5d80be5c051a77c09415e3b8fe3139400848be5244b8ae96bb0c4a24f819cba0488f34985eac741d3359180bd72cafa1559e4c19f54ea8cedbb6a5afde4319396eb92aab340c60a50cc2284580cb3ad09017e8d9abc60269b3d8d687680bd86ce834412273d4f2e3bf68dd3d6fe87e2426ac658cd5c77fd5c0aa000000")]
    [InlineData("/garlic32/566niximlxdzpanmn4qouucvua3k7neniwss47li5r6ugoertzuq", "bf0320efbcd45d0c5dc79781ac6f20ea5055a036afb48d45a52e7d68ec7d4338919e69")]
    // TestZone, TestBinaryRepresentation
    [InlineData("/ip6zone/eth0/ip6/::1", "2a04657468302900000000000000000000000000000001")]
    public void String_and_bytes_convert_both_ways(string text, string hex)
    {
        byte[] expected = Convert.FromHexString(hex);
        Assert.Equal(expected, Multiaddr.Parse(text).ToBytes());
        Assert.Equal(text, Multiaddr.Decode(expected).ToString());
    }

    // TestBytesSplitAndJoin
    [Theory]
    [InlineData("/ip4/1.2.3.4/udp/1234", new[] { "/ip4/1.2.3.4", "/udp/1234" })]
    [InlineData("/ip4/1.2.3.4/tcp/1/ip4/2.3.4.5/udp/2", new[] { "/ip4/1.2.3.4", "/tcp/1", "/ip4/2.3.4.5", "/udp/2" })]
    [InlineData("/ip4/1.2.3.4/utp/ip4/2.3.4.5/udp/2/udt", new[] { "/ip4/1.2.3.4", "/utp", "/ip4/2.3.4.5", "/udp/2", "/udt" })]
    public void Split_and_join(string text, string[] parts)
    {
        Multiaddr m = Multiaddr.Parse(text);
        Assert.Equal(parts, m.Components.Select(c => c.ToString()));
        Assert.Equal(m, Multiaddr.FromComponents(m.Components));
        Assert.Equal(m, Multiaddr.Join(m.Components.Select(c => c.ToMultiaddr()).ToArray()));
        Assert.Equal(parts, m.Components.Select(c => c.ToString()));
    }

    [Fact]
    public void Protocols()
    {
        Multiaddr m = Multiaddr.Parse("/ip4/127.0.0.1/udp/1234");
        Assert.Same(MultiaddrProtocols.Ip4, m.Components[0].Protocol);
        Assert.Same(MultiaddrProtocols.Udp, m.Components[1].Protocol);
    }

    [Fact]
    public void Encapsulate()
    {
        Multiaddr m = Multiaddr.Parse("/ip4/127.0.0.1/udp/1234");
        Multiaddr b = m.Encapsulate(Multiaddr.Parse("/udp/5678"));
        Assert.Equal("/ip4/127.0.0.1/udp/1234/udp/5678", b.ToString());
        Multiaddr c = b.Decapsulate(Multiaddr.Parse("/udp/5678"));
        Assert.Equal("/ip4/127.0.0.1/udp/1234", c.ToString());
        Multiaddr d = c.Decapsulate(Multiaddr.Parse("/ip4/127.0.0.1"));
        Assert.True(d.IsEmpty);
        Assert.Same(Multiaddr.Empty, d);

        // Encapsulating with components
        Multiaddr left = Multiaddr.FromComponents(m.Components.Take(m.Components.Count - 1));
        Assert.Equal(m, left.Encapsulate(m.Components[^1].ToMultiaddr()));
        Assert.Equal(m, m.Components[0].ToMultiaddr().Encapsulate(Multiaddr.FromComponents(m.Components.Skip(1))));
        Assert.Equal(b, m.Encapsulate("/udp/5678"));
    }

    [Fact]
    public void Decapsulate_comment()
    {
        Multiaddr m = Multiaddr.Parse("/ip4/1.2.3.4/tcp/80");
        Assert.Equal("/ip4/1.2.3.4", m.Decapsulate("/tcp/80").ToString());
        Assert.Equal(m, m.Decapsulate("/udp/80"));
        Assert.True(m.Decapsulate("/ip4/1.2.3.4").IsEmpty);
        Assert.Same(m, m.Decapsulate(Multiaddr.Empty));
    }

    [Theory]
    [InlineData("/ip4/1.2.3.4/tcp/1234", "/ip4/1.2.3.4", "")]
    [InlineData("/ip4/1.2.3.4", "/ip4/1.2.3.4/tcp/1234", "/ip4/1.2.3.4")]
    [InlineData("/ip4/1.2.3.5/tcp/1234", "/ip4/5.3.2.1", "/ip4/1.2.3.5/tcp/1234")]
    [InlineData("/ip4/1.2.3.5/udp/1234/quic-v1", "/udp/1234", "/ip4/1.2.3.5")]
    [InlineData("/ip4/1.2.3.6/udp/1234/quic-v1", "/udp/1234/quic-v1", "/ip4/1.2.3.6")]
    [InlineData("/ip4/1.2.3.7/tcp/1234", "/ws", "/ip4/1.2.3.7/tcp/1234")]
    [InlineData("/dnsaddr/wss.com/tcp/4001", "/ws", "/dnsaddr/wss.com/tcp/4001")]
    [InlineData("/dnsaddr/wss.com/tcp/4001/ws", "/wss", "/dnsaddr/wss.com/tcp/4001/ws")]
    [InlineData("/dnsaddr/wss.com/ws", "/wss", "/dnsaddr/wss.com/ws")]
    [InlineData("/dnsaddr/wss.com/ws", "/dnsaddr/wss.com", "")]
    [InlineData("/dnsaddr/wss.com/tcp/4001/wss", "/wss", "/dnsaddr/wss.com/tcp/4001")]
    public void Decapsulate(string left, string right, string expected)
    {
        Multiaddr l = Multiaddr.Parse(left);
        Multiaddr actual = l.Decapsulate(Multiaddr.Parse(right));
        Assert.Equal(expected, actual.ToString());
        Assert.Equal(expected.Length == 0, actual.IsEmpty);

        // Decapsulating with components, and the round trip back.
        Multiaddr butLast = Multiaddr.FromComponents(l.Components.Take(l.Components.Count - 1));
        Multiaddr last = l.Components[^1].ToMultiaddr();
        Assert.Equal(butLast.ToString(), l.Decapsulate(last).ToString());
        Assert.Equal(left, butLast.Encapsulate(last).ToString());
    }

    [Fact]
    public void Decapsulate_strips_from_the_last_occurrence()
    {
        Multiaddr m = Multiaddr.Parse("/ip4/1.2.3.4/tcp/1/ip4/5.6.7.8/tcp/1/ws");
        Assert.Equal("/ip4/1.2.3.4/tcp/1/ip4/5.6.7.8", m.Decapsulate("/tcp/1").ToString());
    }

    // TestGetValue
    [Fact]
    public void Get_value()
    {
        var a = Multiaddr.Parse("/ip4/127.0.0.1/utp/tcp/5555/udp/1234/tls/utp/ipfs/QmbHVEEepCi7rn7VL7Exxpd2Ci9NNB6ifvqwhsrbRMgQFP");
        Assert.Equal("127.0.0.1", a.ValueOf(MultiaddrProtocols.Ip4));
        Assert.Equal("", a.ValueOf(MultiaddrProtocols.Utp));
        Assert.Equal("", a.ValueOf(MultiaddrProtocols.Tls));
        Assert.Equal("5555", a.ValueOf(MultiaddrProtocols.Tcp));
        Assert.Equal("1234", a.ValueOf(MultiaddrProtocols.Udp));
        Assert.Equal("QmbHVEEepCi7rn7VL7Exxpd2Ci9NNB6ifvqwhsrbRMgQFP", a.ValueOf(421));
        Assert.Null(a.ValueOf(MultiaddrProtocols.Ip6));
        Assert.False(a.Has(MultiaddrProtocols.Ip6));
        Assert.True(a.Has(MultiaddrProtocols.Tls));

        a = Multiaddr.Parse("/ip4/0.0.0.0");
        Assert.Equal("0.0.0.0", a.ValueOf(MultiaddrProtocols.Ip4));
        a = Multiaddr.Parse("/ip4/0.0.0.0/ip4/0.0.0.0/ip4/0.0.0.0");
        Assert.Equal("0.0.0.0", a.ValueOf(MultiaddrProtocols.Ip4));
        a = Multiaddr.Parse("/ip4/0.0.0.0/udp/12345/utp");
        Assert.Equal("12345", a.ValueOf(MultiaddrProtocols.Udp));
        Assert.Equal("", a.ValueOf(MultiaddrProtocols.Utp));
        a = Multiaddr.Parse("/ip4/0.0.0.0/unix/a/b/c/d");
        Assert.Equal("0.0.0.0", a.ValueOf(MultiaddrProtocols.Ip4));
        Assert.Equal("/a/b/c/d", a.ValueOf(MultiaddrProtocols.Unix));
    }

    [Theory]
    [InlineData("/unix/a/b/c/d")]
    [InlineData("/ip6/::ffff:127.0.0.1/tcp/111")]
    [InlineData("/ip4/127.0.0.1/tcp/123")]
    [InlineData("/ip4/127.0.0.1/tcp/123/tls")]
    [InlineData("/ip4/127.0.0.1/udp/123")]
    [InlineData("/ip4/127.0.0.1/udp/123/ip6/::")]
    [InlineData("/ip4/127.0.0.1/udp/1234/quic-v1/webtransport/certhash/uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g")]
    [InlineData("/p2p/QmbHVEEepCi7rn7VL7Exxpd2Ci9NNB6ifvqwhsrbRMgQFP")]
    [InlineData("/p2p/QmbHVEEepCi7rn7VL7Exxpd2Ci9NNB6ifvqwhsrbRMgQFP/unix/a/b/c")]
    [InlineData("/http-path/tmp%2Fbar")]
    public void Round_trip_is_exact(string text) => Assert.Equal(text, Multiaddr.Parse(text).ToString());

    [Theory]
    [InlineData("/p2p/QmbHVEEepCi7rn7VL7Exxpd2Ci9NNB6ifvqwhsrbRMgQFP")]
    [InlineData("/ipfs/QmbHVEEepCi7rn7VL7Exxpd2Ci9NNB6ifvqwhsrbRMgQFP")]
    public void Ipfs_prints_as_p2p(string text) =>
        Assert.Equal("/p2p/QmbHVEEepCi7rn7VL7Exxpd2Ci9NNB6ifvqwhsrbRMgQFP", Multiaddr.Parse(text).ToString());

    [Fact]
    public void Invalid_p2p_bytes() =>
        Assert.Throws<MultiaddrException>(() => Multiaddr.Decode(Convert.FromHexString("a503221221c05877cbae039d70a5e600ea02c6f9f2942439285c9e344e26f8d280c850fad6")));

    [Fact]
    public void Invalid_p2p_strings()
    {
        // CIDv1 whose codec is md5 (0xd5), wrapping sha2-256("test"): not libp2p-key.
        byte[] digest = System.Security.Cryptography.SHA256.HashData("test"u8);
        byte[] cid = [0x01, 0xd5, 0x01, 0x12, 0x20, .. digest];
        string unknownCodecCid = "b" + P2PStack.Encoding.Base32.EncodeLower(cid);
        string[] bad =
        [
            "/p2p/k2k4r8oqamigqdo6o7hsbfwd45y70oyynp98usk7zmyfrzpqxh1pohl-",
            "/p2p/?unknownmultibase",
            "/p2p/k2jmtxwoe2phm1hbqp0e7nufqf6umvuu2e9qd7ana7h411a0haqj6i2z",
            "/p2p/" + unknownCodecCid,
        ];
        foreach (string text in bad) Assert.Throws<MultiaddrException>(() => Multiaddr.Parse(text));
    }

    [Fact]
    public void Dns_bytes_round_trip()
    {
        Multiaddr a = Multiaddr.Decode("7*000000000000000000000000000000000000000000"u8);
        Assert.Equal(a, Multiaddr.Parse(a.ToString()));
        Assert.Equal("/dns6/000000000000000000000000000000000000000000", a.ToString());
    }

    [Fact]
    public void Http_path()
    {
        Assert.Throws<MultiaddrException>(() => Multiaddr.Parse("/http-path/thisIsMissingAfullByte%f"));

        Multiaddr m = Multiaddr.Parse("/http-path/tmp%2Fbar/p2p-circuit");
        Assert.Equal("tmp%2Fbar", m.ValueOf(MultiaddrProtocols.HttpPath));
        Assert.True(m.Has(MultiaddrProtocols.P2PCircuit));

        foreach (string c in new[]
        {
            "/http-path/tmp%2Fbar", "/http-path/tmp%2Fbar%2Fbaz", "/http-path/foo",
            "/ip4/127.0.0.1/tcp/0/p2p/12D3KooWCryG7Mon9orvQxcS1rYZjotPgpwoJNHHKcLLfE4Hf5mV/http-path/foo",
            "/ip4/127.0.0.1/tcp/443/tls/sni/example.com/http/http-path/foo",
        })
        {
            Assert.Equal(c, Multiaddr.Parse(c).ToString());
        }

        m = Multiaddr.Parse("/http-path/tmp%2Fbar");
        Assert.Equal("tmp/bar"u8.ToArray(), m.Components[^1].RawValue.ToArray());
    }
}
