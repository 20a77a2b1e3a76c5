namespace P2PStack.Protocols.Kademlia;

/// <summary>A DHT message from the network is malformed or breaks the protocol's rules.</summary>
public sealed class KadProtocolException : P2PFormatException
{
    public KadProtocolException(string message) : base(message) { }
    public KadProtocolException(string message, Exception? inner) : base(message, inner) { }
}

/// <summary>A record failed its namespace's validator (bad key, bad value, unknown namespace).</summary>
public sealed class InvalidRecordException : P2PFormatException
{
    public InvalidRecordException(string message) : base(message) { }
    public InvalidRecordException(string message, Exception? inner) : base(message, inner) { }
}

/// <summary>A record or provider store refused an entry because a configured limit (count, size) was reached.</summary>
public sealed class DhtStoreLimitException(string message) : InvalidOperationException(message);

/// <summary>A DHT operation found nothing (no value, no peer) after querying the network.</summary>
public sealed class DhtNotFoundException(string message) : Exception(message);

/// <summary>A DHT operation could not start: the routing table is empty (bootstrap first).</summary>
public sealed class DhtNoPeersException(string message) : InvalidOperationException(message);
