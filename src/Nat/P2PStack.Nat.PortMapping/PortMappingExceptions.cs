namespace P2PStack.Nat.PortMapping;

/// <summary>A gateway's answer could not be parsed (SSDP, device description, SOAP, NAT-PMP, PCP).</summary>
public sealed class PortMappingFormatException(string message, Exception? inner = null) : P2PStack.P2PFormatException(message, inner);

/// <summary>No gateway answered the protocol's discovery or requests.</summary>
public sealed class GatewayNotFoundException(string protocol, string message) : IOException($"{protocol}: {message}")
{
    public string Protocol { get; } = protocol;

    /// <summary>What happened, without the protocol: for a message that already names it (a list of failures).</summary>
    public string Detail { get; } = message;
}

/// <summary>An exchange with a gateway that was found broke off: the connection was reset or closed in the middle of an
/// answer (an IGD rebooting, a crashed miniupnpd, a middlebox). Counted as <c>network</c>; the mapping is tried again.</summary>
public sealed class GatewayConnectionException(string protocol, string message, Exception? inner = null) : IOException($"{protocol}: {message}", inner)
{
    public string Protocol { get; } = protocol;

    /// <summary>What happened, without the protocol.</summary>
    public string Detail { get; } = message;
}

/// <summary>
/// The gateway answered but refused the mapping (UPnP error code, NAT-PMP or PCP result code), e.g. miniupnpd when
/// its own external address is private ("not suitable for external IP"). The node then falls back to AutoNAT and relays.
/// </summary>
public sealed class PortMappingRefusedException : IOException
{
    /// <param name="code">The protocol's code; 0 when the refusal has none (a private external address): then only
    /// <paramref name="reason"/> is told.</param>
    public PortMappingRefusedException(string protocol, int code, string reason)
        : this(protocol, code, reason, code == 0 ? reason : $"{code} {reason}")
    {
    }

    private PortMappingRefusedException(string protocol, int code, string reason, string detail)
        : base($"{protocol} gateway refused the mapping: {detail}")
    {
        Protocol = protocol;
        Code = code;
        Reason = reason;
        Detail = detail;
    }

    /// <summary>An HTTP error status from a UPnP device (its code is the status, told once).</summary>
    internal static PortMappingRefusedException HttpStatus(int status, Uri? uri)
    {
        string reason = $"HTTP {status} from {uri}";
        return new PortMappingRefusedException("UPnP", status, reason, reason);
    }

    public string Protocol { get; }

    /// <summary>The protocol's own code: a UPnP errorCode (e.g. 718 ConflictInMappingEntry, 501 ActionFailed), a
    /// NAT-PMP result code (e.g. 3 Network Failure), a PCP result code (e.g. 7 NETWORK_FAILURE), or an HTTP status.</summary>
    public int Code { get; }

    public string Reason { get; }

    /// <summary>The refusal without the protocol: the code (when there is one) and the reason.</summary>
    public string Detail { get; }
}
