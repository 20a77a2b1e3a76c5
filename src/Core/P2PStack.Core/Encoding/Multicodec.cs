namespace P2PStack.Encoding;

/// <summary>Content and key codes from the multicodec table used by CIDs, peer ids and records.</summary>
public static class Multicodec
{
    public const ulong Identity = 0x00;
    public const ulong CidV1 = 0x01;
    public const ulong CidV2 = 0x02;
    public const ulong Multicodecs = 0x30;
    public const ulong Multihash = 0x31;
    public const ulong Multiaddr = 0x32;
    public const ulong Multibase = 0x33;
    public const ulong Protobuf = 0x50;
    public const ulong Cbor = 0x51;
    public const ulong Raw = 0x55;
    public const ulong DagPb = 0x70;
    public const ulong DagCbor = 0x71;
    public const ulong Libp2pKey = 0x72;
    public const ulong GitRaw = 0x78;
    public const ulong DagJose = 0x85;
    public const ulong Secp256k1Pub = 0xe7;
    public const ulong X25519Pub = 0xec;
    public const ulong Ed25519Pub = 0xed;
    public const ulong DagJson = 0x0129;
    public const ulong Json = 0x0200;
    public const ulong Car = 0x0202;
    public const ulong Libp2pPeerRecord = 0x0301;
    public const ulong Libp2pRelayRsvp = 0x0302;
    public const ulong P256Pub = 0x1200;
    public const ulong RsaPub = 0x1205;

    /// <summary>Short name from the multicodec table, or null for codes not listed here.</summary>
    public static string? Name(ulong code) => code switch
    {
        Identity => "identity",
        CidV1 => "cidv1",
        CidV2 => "cidv2",
        Multicodecs => "multicodec",
        Multihash => "multihash",
        Multiaddr => "multiaddr",
        Multibase => "multibase",
        Protobuf => "protobuf",
        Cbor => "cbor",
        Raw => "raw",
        DagPb => "dag-pb",
        DagCbor => "dag-cbor",
        Libp2pKey => "libp2p-key",
        GitRaw => "git-raw",
        DagJose => "dag-jose",
        Secp256k1Pub => "secp256k1-pub",
        X25519Pub => "x25519-pub",
        Ed25519Pub => "ed25519-pub",
        DagJson => "dag-json",
        Json => "json",
        Car => "car",
        Libp2pPeerRecord => "libp2p-peer-record",
        Libp2pRelayRsvp => "libp2p-relay-rsvp",
        P256Pub => "p256-pub",
        RsaPub => "rsa-pub",
        _ => null,
    };
}
