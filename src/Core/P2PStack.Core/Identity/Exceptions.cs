namespace P2PStack.Identity;

/// <summary>A key (protobuf wrapper or the key's own Data encoding) is malformed, unsupported or out of bounds.</summary>
public sealed class KeyFormatException : P2PFormatException
{
    public KeyFormatException(string message) : base(message) { }
    public KeyFormatException(string message, Exception? inner) : base(message, inner) { }
}

/// <summary>A peer id (binary multihash or text form) is malformed or not a libp2p peer id.</summary>
public sealed class PeerIdException : P2PFormatException
{
    public PeerIdException(string message) : base(message) { }
    public PeerIdException(string message, Exception? inner) : base(message, inner) { }
}

/// <summary>A key file cannot be read: truncated, unknown version, hostile parameters, wrong passphrase or tampered.</summary>
public sealed class KeyFileException : P2PFormatException
{
    public KeyFileException(string message) : base(message) { }
    public KeyFileException(string message, Exception? inner) : base(message, inner) { }
}
