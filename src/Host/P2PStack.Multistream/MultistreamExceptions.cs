namespace P2PStack.Multistream;

/// <summary>The remote sent something multistream-select does not allow: an oversized or malformed message, the wrong
/// header, bytes that are not UTF-8, or an answer that matches nothing we proposed.</summary>
public sealed class MultistreamException : P2PFormatException
{
    public MultistreamException(string message) : base(message) { }
    public MultistreamException(string message, Exception? inner) : base(message, inner) { }
}

/// <summary>The dialer proposed more protocols than <see cref="MultistreamOptions.MaxProposals"/> allows.</summary>
public sealed class TooManyProposalsException(int limit)
    : IOException($"dialer proposed more than {limit} protocols without choosing a supported one");
