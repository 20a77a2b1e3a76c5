namespace P2PStack.Protocols.Identify;

public sealed class IdentifyOptions
{
    /// <summary>Announced as protocolVersion.</summary>
    public string ProtocolVersion { get; set; } = "ipfs/0.1.0";

    /// <summary>Announced as agentVersion.</summary>
    public string AgentVersion { get; set; } = "p2pstack/0.1.0";

    /// <summary>Largest identify message accepted (listen addresses, protocols and the signed record).</summary>
    public int MaxMessageSize { get; set; } = 8192;

    /// <summary>Most listen addresses (plain or in the signed peer record) accepted from a peer; more refuse the message.</summary>
    public int MaxListenAddresses { get; set; } = 128;

    /// <summary>Most protocols accepted from a peer; more refuse the message.</summary>
    public int MaxProtocols { get; set; } = 256;

    /// <summary>Budget of one identify exchange.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long addresses learned through identify stay in the peer store.</summary>
    public TimeSpan AddressTtl { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Peers whose last signed peer record is kept after its signature was verified, so the same record on
    /// their next connection is not verified again (0: verify every time).</summary>
    public int VerifiedRecordCacheSize { get; set; } = 1024;

    /// <summary>Include a signed peer record in outgoing messages.</summary>
    public bool SendSignedPeerRecord { get; set; } = true;
}
