namespace P2PStack.Privacy.ShadowAddresses;

/// <summary>A shadow address, key or descriptor from outside is malformed, forged, expired or for another period.</summary>
public sealed class ShadowFormatException : P2PFormatException
{
    public ShadowFormatException(string message) : base(message) { }

    public ShadowFormatException(string message, Exception? inner) : base(message, inner) { }

    /// <summary>Why a descriptor was refused, from a small fixed set (the label of
    /// <c>p2pstack_shadow_descriptors_refused_total</c>): <c>malformed</c> (the default), <c>wrong_key</c>,
    /// <c>wrong_period</c>, <c>expired</c>, <c>lifetime</c>, <c>signature</c>, <c>wrong_address</c>, <c>undecryptable</c>.</summary>
    public string Reason { get; init; } = "malformed";
}
