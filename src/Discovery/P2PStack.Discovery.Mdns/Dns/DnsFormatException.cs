namespace P2PStack.Discovery.Mdns.Dns;

/// <summary>A DNS message (from the network) is malformed or exceeds a limit; the message says what was wrong.</summary>
public sealed class DnsFormatException : P2PFormatException
{
    public DnsFormatException(string message) : base(message) { }

    public DnsFormatException(string message, Exception? inner) : base(message, inner) { }
}
