using System.Collections.Frozen;
using P2PStack.Addressing.Codecs;

namespace P2PStack.Addressing;

/// <summary>
/// The protocols libp2p uses, with the codes of multiformats/multiaddr protocols.csv (plus plaintextv2
/// from go-multiaddr), protocols modules register (<see cref="Register"/>), and lookup by name or code.
/// </summary>
public static class MultiaddrProtocols
{
    private const int V = MultiaddrProtocol.VariableSize;

    public static readonly MultiaddrProtocol Ip4 = new(4, "ip4", 32, Ip4Codec.Instance);
    public static readonly MultiaddrProtocol Tcp = new(6, "tcp", 16, PortCodec.Instance);
    public static readonly MultiaddrProtocol Dccp = new(33, "dccp", 16, PortCodec.Instance);
    public static readonly MultiaddrProtocol Ip6 = new(41, "ip6", 128, Ip6Codec.Instance);
    public static readonly MultiaddrProtocol Ip6Zone = new(42, "ip6zone", V, Ip6ZoneCodec.Instance);
    public static readonly MultiaddrProtocol IpCidr = new(43, "ipcidr", 8, IpCidrCodec.Instance);
    public static readonly MultiaddrProtocol Dns = new(53, "dns", V, DnsCodec.Instance);
    public static readonly MultiaddrProtocol Dns4 = new(54, "dns4", V, DnsCodec.Instance);
    public static readonly MultiaddrProtocol Dns6 = new(55, "dns6", V, DnsCodec.Instance);
    public static readonly MultiaddrProtocol DnsAddr = new(56, "dnsaddr", V, DnsCodec.Instance);
    public static readonly MultiaddrProtocol Sctp = new(132, "sctp", 16, PortCodec.Instance);
    public static readonly MultiaddrProtocol Udp = new(273, "udp", 16, PortCodec.Instance);
    public static readonly MultiaddrProtocol P2PWebRtcStar = new(275, "p2p-webrtc-star", 0, null);
    public static readonly MultiaddrProtocol P2PWebRtcDirect = new(276, "p2p-webrtc-direct", 0, null);
    public static readonly MultiaddrProtocol P2PStardust = new(277, "p2p-stardust", 0, null);
    public static readonly MultiaddrProtocol WebRtcDirect = new(280, "webrtc-direct", 0, null);
    public static readonly MultiaddrProtocol WebRtc = new(281, "webrtc", 0, null);
    public static readonly MultiaddrProtocol P2PCircuit = new(290, "p2p-circuit", 0, null);
    public static readonly MultiaddrProtocol Udt = new(301, "udt", 0, null);
    public static readonly MultiaddrProtocol Utp = new(302, "utp", 0, null);
    public static readonly MultiaddrProtocol Unix = new(400, "unix", V, UnixCodec.Instance, isPath: true);
    /// <summary>Peer id (a multihash); "ipfs" is accepted as an alias when parsing.</summary>
    public static readonly MultiaddrProtocol P2P = new(421, "p2p", V, P2PCodec.Instance);
    public static readonly MultiaddrProtocol Https = new(443, "https", 0, null);
    public static readonly MultiaddrProtocol Onion = new(444, "onion", 96, OnionCodec.V2);
    public static readonly MultiaddrProtocol Onion3 = new(445, "onion3", 296, OnionCodec.V3);
    public static readonly MultiaddrProtocol Garlic64 = new(446, "garlic64", V, Garlic64Codec.Instance);
    public static readonly MultiaddrProtocol Garlic32 = new(447, "garlic32", V, Garlic32Codec.Instance);
    public static readonly MultiaddrProtocol Tls = new(448, "tls", 0, null);
    public static readonly MultiaddrProtocol Sni = new(449, "sni", V, DnsCodec.Instance);
    public static readonly MultiaddrProtocol Noise = new(454, "noise", 0, null);
    public static readonly MultiaddrProtocol Quic = new(460, "quic", 0, null);
    public static readonly MultiaddrProtocol QuicV1 = new(461, "quic-v1", 0, null);
    public static readonly MultiaddrProtocol WebTransport = new(465, "webtransport", 0, null);
    /// <summary>Certificate hash: a multihash, printed as base64url multibase ('u').</summary>
    public static readonly MultiaddrProtocol CertHash = new(466, "certhash", V, CertHashCodec.Instance);
    public static readonly MultiaddrProtocol Ws = new(477, "ws", 0, null);
    public static readonly MultiaddrProtocol Wss = new(478, "wss", 0, null);
    public static readonly MultiaddrProtocol P2PWebSocketStar = new(479, "p2p-websocket-star", 0, null);
    public static readonly MultiaddrProtocol Http = new(480, "http", 0, null);
    public static readonly MultiaddrProtocol HttpPath = new(481, "http-path", V, HttpPathCodec.Instance);
    /// <summary>In-process transport id: 64 bits, fixed size as go-multiaddr and rust-multiaddr encode it.</summary>
    public static readonly MultiaddrProtocol Memory = new(777, "memory", 64, MemoryCodec.Instance);
    public static readonly MultiaddrProtocol PlaintextV2 = new(7367777, "plaintextv2", 0, null);

    /// <summary>The protocols of the multiaddr table this library knows without registration, ordered by code.</summary>
    public static IReadOnlyList<MultiaddrProtocol> BuiltIn { get; } =
    [
        Ip4, Tcp, Dccp, Ip6, Ip6Zone, IpCidr, Dns, Dns4, Dns6, DnsAddr, Sctp, Udp, P2PWebRtcStar, P2PWebRtcDirect,
        P2PStardust, WebRtcDirect, WebRtc, P2PCircuit, Udt, Utp, Unix, P2P, Https, Onion, Onion3, Garlic64,
        Garlic32, Tls, Sni, Noise, Quic, QuicV1, WebTransport, CertHash, Ws, Wss, P2PWebSocketStar, Http,
        HttpPath, Memory, PlaintextV2,
    ];

    private static readonly Lock RegistrationGate = new();

    // Replaced as a whole on registration, so lookups (every parse and decode) take no lock.
    private static volatile Table s_table = new(BuiltIn);

    /// <summary>Every known protocol (built in and registered), ordered by code.</summary>
    public static IReadOnlyList<MultiaddrProtocol> All => s_table.Ordered;

    /// <summary>
    /// Adds a protocol to the process-wide table, so that addresses using it parse, decode and print (e.g. a module's
    /// own address type such as <c>/shadow</c>). Registering the same definition again (same code, name, size, path
    /// flag and codec type) is a no-op that returns the instance registered first: use the returned instance, since
    /// protocols are compared by reference.
    /// </summary>
    /// <exception cref="InvalidOperationException">The code or the name is taken by a different protocol.</exception>
    public static MultiaddrProtocol Register(MultiaddrProtocol protocol)
    {
        ArgumentNullException.ThrowIfNull(protocol);
        lock (RegistrationGate)
        {
            var table = s_table;
            if (table.ByCode.TryGetValue(protocol.Code, out var byCode))
            {
                if (SameDefinition(byCode, protocol)) return byCode;
                throw new InvalidOperationException(
                    $"multiaddr protocol code {protocol.Code} is already registered as /{byCode.Name}");
            }
            if (table.ByName.TryGetValue(protocol.Name, out var byName))
                throw new InvalidOperationException(
                    $"multiaddr protocol name /{protocol.Name} is already registered with code {byName.Code}");
            s_table = new Table([.. table.Ordered, protocol]);
            return protocol;
        }
    }

    private static bool SameDefinition(MultiaddrProtocol a, MultiaddrProtocol b) =>
        a.Code == b.Code && a.Name == b.Name && a.SizeInBits == b.SizeInBits && a.IsPath == b.IsPath
        && a.Codec?.GetType() == b.Codec?.GetType();

    /// <summary>Finds a protocol by its code.</summary>
    public static bool TryGet(int code, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out MultiaddrProtocol? protocol) =>
        s_table.ByCode.TryGetValue(code, out protocol);

    /// <summary>Finds a protocol by its name (case-sensitive; "ipfs" gives <see cref="P2P"/>).</summary>
    public static bool TryGet(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out MultiaddrProtocol? protocol) =>
        s_table.ByName.TryGetValue(name, out protocol);

    internal static bool TryGet(ReadOnlySpan<char> name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out MultiaddrProtocol? protocol) =>
        s_table.ByNameSpan.TryGetValue(name, out protocol);

    /// <summary>The protocol with this code, or an <see cref="ArgumentException"/> if none.</summary>
    public static MultiaddrProtocol Get(int code) =>
        TryGet(code, out var protocol) ? protocol : throw new ArgumentException($"no multiaddr protocol has code {code}", nameof(code));

    /// <summary>The protocol with this name, or an <see cref="ArgumentException"/> if none.</summary>
    public static MultiaddrProtocol Get(string name) =>
        TryGet(name, out var protocol) ? protocol : throw new ArgumentException($"no multiaddr protocol is named \"{name}\"", nameof(name));

    /// <summary>One immutable state of the protocol table.</summary>
    private sealed class Table
    {
        public Table(IEnumerable<MultiaddrProtocol> protocols)
        {
            Ordered = [.. protocols.OrderBy(p => p.Code)];
            ByCode = Ordered.ToFrozenDictionary(p => p.Code);
            ByName = Ordered.Select(p => KeyValuePair.Create(p.Name, p))
                .Append(KeyValuePair.Create("ipfs", MultiaddrProtocols.P2P))
                .ToFrozenDictionary(StringComparer.Ordinal);
            ByNameSpan = ByName.GetAlternateLookup<ReadOnlySpan<char>>();
        }

        public MultiaddrProtocol[] Ordered { get; }

        public FrozenDictionary<int, MultiaddrProtocol> ByCode { get; }

        public FrozenDictionary<string, MultiaddrProtocol> ByName { get; }

        public FrozenDictionary<string, MultiaddrProtocol>.AlternateLookup<ReadOnlySpan<char>> ByNameSpan { get; }
    }
}
