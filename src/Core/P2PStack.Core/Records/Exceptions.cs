namespace P2PStack.Records;

/// <summary>A signed envelope is malformed, oversized, or does not verify (bad signature or wrong domain).</summary>
public sealed class EnvelopeException : P2PFormatException
{
    public EnvelopeException(string message) : base(message) { }
    public EnvelopeException(string message, Exception? inner) : base(message, inner) { }
}

/// <summary>A peer record is malformed, has the wrong payload type, or was not signed by the peer it describes.</summary>
public sealed class PeerRecordException : P2PFormatException
{
    public PeerRecordException(string message) : base(message) { }
    public PeerRecordException(string message, Exception? inner) : base(message, inner) { }
}
