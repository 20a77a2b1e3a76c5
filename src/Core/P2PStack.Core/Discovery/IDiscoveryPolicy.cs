using P2PStack.Identity;

namespace P2PStack.Discovery;

/// <summary>What a discovery mechanism can show for a peer it found.</summary>
public enum DiscoveryEvidence
{
    /// <summary>Addresses anyone could have sent (a plain mDNS answer, a DHT closer-peers list).</summary>
    Unsigned,

    /// <summary>A signed peer record (RFC 0003) whose signature, peer id, freshness and sequence number were checked.</summary>
    SignedRecord,
}

/// <summary>
/// Decides whether a discovered peer may be used (added to the peer store, announced, dialed). Discovery mechanisms
/// ask every registered policy; one refusal drops the finding. The trust module implements the security levels here.
/// </summary>
public interface IDiscoveryPolicy
{
    /// <summary>Null to accept, else the reason for refusing (for the log and the refusal counter).</summary>
    string? Refuse(PeerId peer, DiscoveryEvidence evidence, string source);
}
