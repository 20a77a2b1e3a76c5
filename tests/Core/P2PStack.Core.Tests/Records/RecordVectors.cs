namespace P2PStack.Tests.Records;

/// <summary>
/// Envelopes produced by js-libp2p (@libp2p/peer-record 9.0.16, @libp2p/crypto) with the peer-ids spec's Ed25519 and
/// secp256k1 test keys. Both signature schemes are deterministic, so our Seal must reproduce them byte for byte.
/// Peer records: seq 1570215229, addresses /ip4/192.0.2.0/tcp/42 and /ip6/2001:db8::1/udp/4001/quic-v1.
/// Custom envelopes: domain "libp2p-testing", payload type "/libp2p/testdata", payload "hello world!".
/// </summary>
internal static class RecordVectors
{
    public const ulong Seq = 1570215229;
    public const string Address1 = "/ip4/192.0.2.0/tcp/42";
    public const string Address2 = "/ip6/2001:db8::1/udp/4001/quic-v1";

    public const string Ed25519PeerId = "12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq";
    public const string Ed25519PeerRecordEnvelope =
        "0a24080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e120203011a550a260024080112201ed1e8fae2c4a1" +
        "44b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e10bdaadeec051a0a0a0804c000020006002a1a190a172920010db8000000000000" +
        "00000000000191020fa1cd032a40875e50546a188514a6d7567fe755639fcbe79bcf2ca7fe439f61cfb22d4c3703fbaf7afea05b1a4160d24f6d91" +
        "0600eaf82b8e84b71ba501f28a1d61b8a89700";
    public const string Ed25519CustomEnvelope =
        "0a24080112201ed1e8fae2c4a144b8be8fd4b47bf3d3b34b871c3cacf6010f0e42d474fce27e12102f6c69627032702f74657374646174611a0c68" +
        "656c6c6f20776f726c64212a40faf53111256b82c5c07653ce64fce15626c7e00f3211a9cb22ca159d29dd4518fcae8da9c3d17e878390c8208da0" +
        "dceece8908865b20e8a28129726be701d307";

    public const string Secp256k1PeerId = "16Uiu2HAmLhLvBoYaoZfaMUKuibM6ac163GwKY74c5kiSLg5KvLpY";
    public const string Secp256k1PeerRecordEnvelope =
        "0a2508021221037777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca99120203011a560a27002508021221037777e994e4" +
        "52c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca9910bdaadeec051a0a0a0804c000020006002a1a190a172920010db800000000" +
        "000000000000000191020fa1cd032a463044022068f4a8357512ccc47fd6517d1ff6d83da6d0c9fef7f85f1f1f140a0dde7a2b6b02200216e806" +
        "8d67a1c10db6c2872ddd7ae49b0aeaf9bfa8da7a61f586781620ea7a";
    public const string Secp256k1CustomEnvelope =
        "0a2508021221037777e994e452c21604f91de093ce415f5432f701dd8cd1a7a6fea0e630bfca9912102f6c69627032702f74657374646174611a0c" +
        "68656c6c6f20776f726c64212a463044022015cbe12e29c7fe5bad4e15aa6cf92ee416c5554b506cc0f6fb868982ffe4a82c02204f99d18217a0" +
        "0f91dfa9603b51595571cb6e31c69f881a4b4ed3a716da6a650d";
}
