namespace P2PStack.Protocols.GossipSub;

/// <summary>How messages are authored and what inbound messages must carry (pubsub spec, "Signature Policy").</summary>
public enum SignaturePolicy
{
    /// <summary>Sign with the host key and set from/seqno; inbound messages must be signed and verify.</summary>
    StrictSign,
    /// <summary>No from/seqno/signature/key on our messages; inbound messages carrying any of them are rejected.</summary>
    StrictNoSign,
}
