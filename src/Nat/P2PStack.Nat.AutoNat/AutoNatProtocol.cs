namespace P2PStack.Nat.AutoNat;

/// <summary>Protocol ids of AutoNAT v1 and v2.</summary>
public static class AutoNatProtocol
{
    public const string V1 = "/libp2p/autonat/1.0.0";

    public const string V2DialRequest = "/libp2p/autonat/2/dial-request";

    public const string V2DialBack = "/libp2p/autonat/2/dial-back";

    /// <summary>The largest dial data chunk a v2 client sends in one DialDataResponse (the spec's 4096).</summary>
    public const int DialDataChunk = 4096;
}

/// <summary>An AutoNAT message from the peer is malformed, oversized or out of order.</summary>
public sealed class AutoNatFormatException(string message, Exception? inner = null) : P2PFormatException(message, inner);

/// <summary>The AutoNAT server refused or could not serve the request (its status says why).</summary>
public sealed class AutoNatRefusedException(string status, string? text)
    : IOException(text is null ? $"the AutoNAT server refused: {status}" : $"the AutoNAT server refused: {status} ({text})")
{
    public string Status { get; } = status;
}

/// <summary>A v2 server asked for more dial data than <see cref="AutoNatOptions.MaxDialDataBytes"/> allows; the
/// request was aborted.</summary>
public sealed class AutoNatDialDataRefusedException(ulong asked, long limit)
    : IOException($"the AutoNAT server asked for {asked} bytes of dial data, over our limit of {limit}")
{
    public ulong Asked { get; } = asked;
}
