using P2PStack.Addressing;
using static P2PStack.Core.Tests.Addressing.GoMultiaddrVectors;

namespace P2PStack.Core.Tests.Addressing;

/// <summary>Vectors of rust-multiaddr tests/lib.rs and js-multiaddr test/index.spec.ts.</summary>
public class OtherImplementationVectorTests
{
    // rust-multiaddr construct_success (ma_valid): text, binary, and text printed back unchanged.
    [Theory]
    [InlineData("/ip4/1.2.3.4", "0401020304")]
    [InlineData("/ip4/0.0.0.0", "0400000000")]
    [InlineData("/ip6/::1", "2900000000000000000000000000000001")]
    [InlineData("/ip6/2601:9:4f81:9700:803e:ca65:66e8:c21", "29260100094F819700803ECA6566E80C21")]
    [InlineData("/ip6/fe80::9700:803e:ca65:66e8:c21/ip6zone/wlan0", "29FE80000000009700803ECA6566E80C212A05776C616E30")]
    [InlineData("/udp/0", "91020000")]
    [InlineData("/tcp/0", "060000")]
    [InlineData("/sctp/0", "84010000")]
    [InlineData("/udp/1234", "910204D2")]
    [InlineData("/tcp/1234", "0604D2")]
    [InlineData("/sctp/1234", "840104D2")]
    [InlineData("/udp/65535", "9102FFFF")]
    [InlineData("/tcp/65535", "06FFFF")]
    [InlineData("/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC", "A503221220D52EBB89D85B02A284948203A62FF28389C57C9F42BEEC4EC20DB76A68911C0B")]
    [InlineData("/udp/1234/sctp/1234", "910204D2840104D2")]
    [InlineData("/udp/1234/udt", "910204D2AD02")]
    [InlineData("/udp/1234/utp", "910204D2AE02")]
    [InlineData("/tcp/1234/http", "0604D2E003")]
    [InlineData("/tcp/1234/tls/http", "0604D2C003E003")]
    [InlineData("/tcp/1234/http/http-path/user", "0604D2E003E1030475736572")]
    [InlineData("/tcp/1234/http/http-path/api%2Fv0%2Flogin", "0604D2E003E1030C6170692F76302F6C6F67696E")]
    [InlineData("/tcp/1234/http/http-path/a%2520space", "0604D2E003E10309612532307370616365")]
    [InlineData("/tcp/1234/https", "0604D2BB03")]
    [InlineData("/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC/tcp/1234", "A503221220D52EBB89D85B02A284948203A62FF28389C57C9F42BEEC4EC20DB76A68911C0B0604D2")]
    [InlineData("/ip4/127.0.0.1/udp/1234", "047F000001910204D2")]
    [InlineData("/ip4/127.0.0.1/udp/0", "047F00000191020000")]
    [InlineData("/ip4/127.0.0.1/tcp/1234", "047F0000010604D2")]
    [InlineData("/ip4/127.0.0.1/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC", "047F000001A503221220D52EBB89D85B02A284948203A62FF28389C57C9F42BEEC4EC20DB76A68911C0B")]
    [InlineData("/ip4/127.0.0.1/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC/tcp/1234", "047F000001A503221220D52EBB89D85B02A284948203A62FF28389C57C9F42BEEC4EC20DB76A68911C0B0604D2")]
    [InlineData("/ip6/2001:8a0:7ac5:4201:3ac9:86ff:fe31:7095/tcp/8000/ws/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC", "29200108A07AC542013AC986FFFE317095061F40DD03A503221220D52EBB89D85B02A284948203A62FF28389C57C9F42BEEC4EC20DB76A68911C0B")]
    [InlineData("/p2p-webrtc-star/ip4/127.0.0.1/tcp/9090/ws/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC", "9302047F000001062382DD03A503221220D52EBB89D85B02A284948203A62FF28389C57C9F42BEEC4EC20DB76A68911C0B")]
    [InlineData("/ip6/2001:8a0:7ac5:4201:3ac9:86ff:fe31:7095/tcp/8000/wss/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC", "29200108A07AC542013AC986FFFE317095061F40DE03A503221220D52EBB89D85B02A284948203A62FF28389C57C9F42BEEC4EC20DB76A68911C0B")]
    [InlineData("/ip4/127.0.0.1/tcp/9090/p2p-circuit/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC", "047F000001062382A202A503221220D52EBB89D85B02A284948203A62FF28389C57C9F42BEEC4EC20DB76A68911C0B")]
    [InlineData("/onion/aaimaq4ygg2iegci:80", "BC030010C0439831B48218480050")]
    [InlineData("/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:1234", "BD03ADADEC040BE047F9658668B11A504F3155001F231A37F54C4476C07FB4CC139ED7E30304D2")]
    [InlineData("/garlic64/" + G64, "BE0383038D3FC8C976A86AE4E78BA378E75EC41BC9AB1542A9CB422581987E118F5CB0C024F3639D6AD9B3AFF613672F07BFBBBFC2F920EF910534ECAA6FF9C03E0FA4872A764D2FCE6D4CFC5A5A9800CD95944CC9EF0241F753FE71494A175F334B35682459ACADC4076428AB49B5A83A49D2EA2366B06461E4A559B0111FA750E0DE0C138A94D1231ED5979572FF53922905636221994BDABC44BD0C17FEF11622B16432DB3F193400AF53CC61AA9BFC0C4C8D874B41A6E18732F0B60F5662EF1A89C80589DD8366C90BB58BB85EAD56356ABA2A244950CA170ABBD01094539014F84BDD383E4A10E00CEE63DFC3E809506E2D9B54EDBDCA1BACE6EAA119E68573D30533791FBA830F5D80BE5C051A77C09415E3B8FE3139400848BE5244B8AE96BB0C4A24F819CBA0488F34985EAC741D3359180BD72CAFA1559E4C19F54EA8CEDBB6A5AFDE4319396EB92AAB340C60A50CC2284580CB3AD09017E8D9ABC60269B3D8D687680BD86CE834412273D4F2E3BF68DD3D6FE87E2426AC658CD5C77FD5C0AA000000")]
    [InlineData("/dnsaddr/sjc-1.bootstrap.libp2p.io", "3819736A632D312E626F6F7473747261702E6C69627032702E696F")]
    [InlineData("/dnsaddr/sjc-1.bootstrap.libp2p.io/tcp/1234/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN", "3819736A632D312E626F6F7473747261702E6C69627032702E696F0604D2A50322122006B3608AA000274049EB28AD8E793A26FF6FAB281A7D3BD77CD18EB745DFAABB")]
    [InlineData("/ip4/127.0.0.1/tcp/127/ws", "047F00000106007FDD03")]
    [InlineData("/ip4/127.0.0.1/tcp/127/tls", "047F00000106007FC003")]
    [InlineData("/ip4/127.0.0.1/tcp/127/tls/ws", "047F00000106007FC003DD03")]
    [InlineData("/ip4/127.0.0.1/tcp/127/noise", "047F00000106007FC603")]
    [InlineData("/ip4/127.0.0.1/udp/1234/webrtc-direct", "047F000001910204D29802")]
    [InlineData("/ip4/127.0.0.1/udp/1234/webrtc-direct/certhash/uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g", "047F000001910204D29802D203221220C3AB8FF13720E8AD9047DD39466B3C8974E592C2FA383D4A3960714CAEF0C4F2")]
    [InlineData("/ip4/127.0.0.1/udp/1234/quic/webtransport", "047F000001910204D2CC03D103")]
    [InlineData("/ip4/127.0.0.1/udp/1234/webtransport/certhash/uEiDDq4_xNyDorZBH3TlGazyJdOWSwvo4PUo5YHFMrvDE8g", "047F000001910204D2D103D203221220C3AB8FF13720E8AD9047DD39466B3C8974E592C2FA383D4A3960714CAEF0C4F2")]    public void Rust_construct_success(string text, string hex)
    {
        byte[] expected = Convert.FromHexString(hex);
        Multiaddr parsed = Multiaddr.Parse(text);
        Assert.Equal(expected, parsed.ToBytes());
        Assert.Equal(text, parsed.ToString());
        Assert.Equal(parsed, Multiaddr.Decode(expected));
    }

    [Theory]
    [MemberData(nameof(RustFailCases))]
    public void Rust_construct_fail(string text) => Assert.Throws<MultiaddrException>(() => Multiaddr.Parse(text));

    public static TheoryData<string> RustFailCases() => new(
    [
        "/ip4",
        "/ip4/::1",
        "/ip4/fdpsofodsajfdoisa",
        "/ip6",
        "/ip6/fe80::9700:803e:ca65:66e8:c21/ip6zone",
        "/udp",
        "/tcp",
        "/sctp",
        "/udp/65536",
        "/tcp/65536",
        "/onion/9imaq4ygg2iegci7:80",
        "/onion/aaimaq4ygg2iegci7:80",
        "/onion/timaq4ygg2iegci7:0",
        "/onion/timaq4ygg2iegci7:-1",
        "/onion/timaq4ygg2iegci7",
        "/onion/timaq4ygg2iegci@:666",
        "/onion3/9ww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:80",
        "/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd7:80",
        "/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:0",
        "/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:-1",
        "/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd",
        "/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyy@:666",
        "/garlic64/jT~",
        "/garlic32/566niximlxdzpanmn4qouucvua3k7neniwss47li5r6ugoertzu",
        "/garlic32/566niximlxdzpanmn4qouucvua3k7neniwss47li5r6ugoertzu77",
        "/garlic32/566niximlxdzpanmn4qouucvua3k7neniwss47li5r6ugoertzu:80",
        "/garlic32/566niximlxdzpanmn4qouucvua3k7neniwss47li5r6ugoertzuq:-1",
        "/garlic32/566niximlxdzpanmn4qouucvua3k7neniwss47li5r6ugoertzu@",
        "/udp/1234/sctp",
        "/udp/1234/udt/1234",
        "/udp/1234/utp/1234",
        "/ip4/127.0.0.1/udp/jfodsajfidosajfoidsa",
        "/ip4/127.0.0.1/udp",
        "/ip4/127.0.0.1/tcp/jfodsajfidosajfoidsa",
        "/ip4/127.0.0.1/tcp",
        "/ip4/127.0.0.1/p2p",
        "/ip4/127.0.0.1/p2p/tcp",
        "/p2p-circuit/50",
        "/ip4/127.0.0.1/udp/1234/webrtc-direct/certhash",
        "/ip4/127.0.0.1/udp/1234/webrtc-direct/certhash/b2uaraocy6yrdblb4sfptaddgimjmmp",
        "/tcp/1234/http/http-path/a/b",
        "{}",    ]);

    [Fact]
    public void Rust_from_bytes_fail() => Assert.Throws<MultiaddrException>(() => Multiaddr.Decode([1, 2, 3, 4]));

    // js-multiaddr "variants": each parses, and prints back as given (with /ipfs/ shown as /p2p/).
    [Theory]
    [InlineData("/ip4/127.0.0.1")]
    [InlineData("/ip6/2001:8a0:7ac5:4201:3ac9:86ff:fe31:7095")]
    [InlineData("/ip4/127.0.0.1/tcp/5000")]
    [InlineData("/ip6/2001:8a0:7ac5:4201:3ac9:86ff:fe31:7095/tcp/5000")]
    [InlineData("/ip4/127.0.0.1/udp/5000")]
    [InlineData("/ip6/2001:8a0:7ac5:4201:3ac9:86ff:fe31:7095/udp/5000")]
    [InlineData("/ip4/127.0.0.1/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC/tcp/1234")]
    [InlineData("/ip4/127.0.0.1/ipfs/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC/tcp/1234")]
    [InlineData("/ip6/2001:8a0:7ac5:4201:3ac9:86ff:fe31:7095/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC/tcp/1234")]
    [InlineData("/ip6zone/x/ip6/fe80::1")]
    [InlineData("/ip4/127.0.0.1/udp/5000/utp")]
    [InlineData("/ip6/2001:8a0:7ac5:4201:3ac9:86ff:fe31:7095/udp/5000/utp")]
    [InlineData("/ip4/127.0.0.1/tcp/8000/http")]
    [InlineData("/ip6/2001:8a0:7ac5:4201:3ac9:86ff:fe31:7095/tcp/8000/http")]
    [InlineData("/ip4/127.0.0.1/tcp/8000/https")]
    [InlineData("/ip6/2001:8a0:7ac5:4201:3ac9:86ff:fe31:7095/tcp/8000/https")]
    [InlineData("/ip4/127.0.0.1/tcp/8000/ws")]
    [InlineData("/ip6/2001:8a0:7ac5:4201:3ac9:86ff:fe31:7095/tcp/8000/ws")]
    [InlineData("/ip6/2001:8a0:7ac5:4201:3ac9:86ff:fe31:7095/tcp/8000/ws/ipfs/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC")]
    [InlineData("/ip6/2001:8a0:7ac5:4201:3ac9:86ff:fe31:7095/udp/4001/quic/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC")]
    [InlineData("/ip6/2001:8a0:7ac5:4201:3ac9:86ff:fe31:7095/udp/4001/quic-v1/ipfs/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC")]
    [InlineData("/ip6/2001:8a0:7ac5:4201:3ac9:86ff:fe31:7095/udp/4001/quic-v1/webtransport")]
    [InlineData("/ip4/1.2.3.4/udp/4001/quic-v1/webtransport/certhash/uEiAkH5a4DPGKUuOBjYw0CgwjvcJCJMD2K_1aluKR_tpevQ/certhash/uEiAfbgiymPP2_nX7Dgir8B4QkksjHp2lVuJZz0F79Be9JA/p2p/12D3KooWBdmLJjhpgJ9KZgLM3f894ff9xyBfPvPjFNn7MKJpyrC2")]
    [InlineData("/ip6zone/x/ip6/fe80::1/udp/1234/quic")]
    [InlineData("/ip4/127.0.0.1/tcp/9090/tls/ws")]
    [InlineData("/ip4/127.0.0.1/tcp/9090/tls/sni/example.com/ws")]
    [InlineData("/ip4/127.0.0.1/tcp/9090/tls/http-path/tmp%2Ffoo%2F..%2Fbar")]
    [InlineData("/onion/timaq4ygg2iegci7:1234")]
    [InlineData("/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:1234")]
    [InlineData("/p2p-circuit/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC")]
    [InlineData("/ipfs/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC/p2p-circuit")]
    [InlineData("/ip4/127.0.0.1/tcp/9090/ws/p2p-webrtc-star/ipfs/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC")]
    [InlineData("/ip4/127.0.0.1/tcp/9090/http/p2p-webrtc-direct")]
    [InlineData("/ip4/127.0.0.1/tcp/9090/ws/p2p-websocket-star")]
    [InlineData("/ip4/127.0.0.1/tcp/9090/p2p-stardust")]
    public void Js_variants(string text) => Assert.Equal(text.Replace("/ipfs/", "/p2p/"), Multiaddr.Parse(text).ToString());

    // js-multiaddr "normalizes" cases (IPv6 printed per RFC 5952, as go does).
    [Theory]
    [InlineData("/ip6/0001:08a0:00c5:4201:3ac9:86ff:fe31:0709", "/ip6/1:8a0:c5:4201:3ac9:86ff:fe31:709")]
    [InlineData("/ip6/0000:0000:0000:0000:0000:0000:0000:0001", "/ip6/::1")]
    [InlineData("/ip6/::00:0:000:0:001", "/ip6/::1")]
    [InlineData("/ip6/::101.45.75.219/tcp/9090", "/ip6/::652d:4bdb/tcp/9090")]
    [InlineData("/ip6/::1.45.5.219/tcp/9090", "/ip6/::12d:5db/tcp/9090")]
    [InlineData("/ip6/0:00:0000:0002:0000:059c:0a24:0801/tcp/64142", "/ip6/::2:0:59c:a24:801/tcp/64142")]
    public void Js_ip6_normalization(string input, string output) => Assert.Equal(output, Multiaddr.Parse(input).ToString());

    [Theory]
    [InlineData("/onion/timaq4ygg2iegci7:-1")]
    [InlineData("/onion/timaq4ygg2iegci7")]
    [InlineData("/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopyyd:1234")]
    [InlineData("/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd:-1")]
    [InlineData("/onion3/vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd")]
    [InlineData("/ip4/127.0.0.1/unknown")]
    [InlineData("/ip4/0.0.0.0/ip4")]
    public void Js_invalid(string text) => Assert.Throws<MultiaddrException>(() => Multiaddr.Parse(text));

    [Fact]
    public void Js_relay_encapsulation()
    {
        Multiaddr relay = Multiaddr.Parse("/ip4/0.0.0.0/tcp/8080")
            .Encapsulate("/p2p/QmZR5a9AAXGqQF2ADqoDdGS8zvqv8n3Pag6TDDnTNMcFW6/p2p-circuit");
        Multiaddr full = relay.Encapsulate(Multiaddr.Parse("/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC"));
        Assert.Equal("/ip4/0.0.0.0/tcp/8080/p2p/QmZR5a9AAXGqQF2ADqoDdGS8zvqv8n3Pag6TDDnTNMcFW6/p2p-circuit/p2p/QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC", full.ToString());
        Assert.Equal(relay, full.DecapsulateCode(MultiaddrProtocols.P2P.Code));
        Assert.Equal("/ip4/0.0.0.0/tcp/8080", full.DecapsulateCode(MultiaddrProtocols.P2PCircuit.Code).DecapsulateCode(421).ToString());
        Assert.Same(full, full.DecapsulateCode(MultiaddrProtocols.Udp.Code));
        Assert.True(full.DecapsulateCode(MultiaddrProtocols.Ip4.Code).IsEmpty);
        Assert.Equal(Multihash("QmcgpsyWgH8Y8ajJz1Cu72KnS5uo2Aa2LpzU7kinSupNKC"), full.PeerIdMultihash);
        Assert.Equal(Multihash("QmZR5a9AAXGqQF2ADqoDdGS8zvqv8n3Pag6TDDnTNMcFW6"), relay.PeerIdMultihash);
        Assert.Null(Multiaddr.Parse("/ip4/0.0.0.0/tcp/8080").PeerIdMultihash);
    }

    private static P2PStack.Encoding.Multihash Multihash(string base58) => P2PStack.Encoding.Multihash.Parse(base58);

    [Theory]
    [InlineData("/p2p/k2k4r8oqamigqdo6o7hsbfwd45y70oyynp98usk7zmyfrzpqxh1pohl7")]
    [InlineData("/p2p/bafzbeigvf25ytwc3akrijfecaotc74udrhcxzh2cx3we5qqnw5vgrei4bm")]
    [InlineData("/ipfs/bafzbeidt255unskpefjmqb2rc27vjuyxopkxgaylxij6pw35hhys4vnyp4")]
    [InlineData("/p2p/k51qzi5uqu5dhb6l8spkdx7yxafegfkee5by8h7lmjh2ehc2sgg34z7c15vzqs")]
    [InlineData("/p2p/bafzaajaiaejcalj543iwv2d7pkjt7ykvefrkfu7qjfi6sduakhso4lay6abn2d5u")]
    public void Cid_peer_ids_print_as_base58_multihash(string text)
    {
        Multiaddr m = Multiaddr.Parse(text);
        string printed = m.ToString();
        Assert.StartsWith("/p2p/", printed);
        Assert.Equal(m, Multiaddr.Parse(printed));
        P2PStack.Encoding.Multihash hash = m.PeerIdMultihash!;
        Assert.Equal("/p2p/" + hash, printed);
    }

    [Fact]
    public void Cid_and_base58_forms_of_one_peer_are_equal()
    {
        const string peer = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";
        byte[] cid = [0x01, 0x72, .. P2PStack.Encoding.Base58.Decode(peer)];
        Multiaddr expected = Multiaddr.Parse("/p2p/" + peer);
        Assert.Equal(expected, Multiaddr.Parse("/p2p/b" + P2PStack.Encoding.Base32.EncodeLower(cid)));
        Assert.Equal(expected, Multiaddr.Parse("/p2p/k" + P2PStack.Encoding.Base36.EncodeLower(cid)));
        Assert.Equal(expected, Multiaddr.Parse("/p2p/z" + P2PStack.Encoding.Base58.Encode(cid)));
        Assert.Equal("/p2p/" + peer, Multiaddr.Parse("/p2p/f" + Convert.ToHexStringLower(cid)).ToString());
    }

    [Fact]
    public void Garlic64_vector_uses_the_shared_constant() => Assert.Equal(516, G64.Length);
}
