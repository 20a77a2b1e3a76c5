namespace P2PStack.Nat.PortMapping;

/// <summary>A gateway's answer could not be parsed (SSDP, device description, SOAP, NAT-PMP, PCP).</summary>
public sealed class PortMappingFormatException(string message, Exception? inner = null) : P2PStack.P2PFormatException(message, inner);

/// <summary>No gateway answered the protocol's discovery or requests.</summary>
public sealed class GatewayNotFoundException(string protocol, string message) : IOException($"{protocol}: {message}")
{
    public string Protocol { get; } = protocol;
}

/// <summary>An exchange with a gateway that was found broke off: the connection was reset or closed in the middle of an
/// answer (an IGD rebooting, a crashed miniupnpd, a middlebox). Counted as <c>network</c>; the mapping is tried again.</summary>
public sealed class GatewayConnectionException(string protocol, string message, Exception? inner = null) : IOException($"{protocol}: {message}", inner)
{
    public string Protocol { get; } = protocol;
}

/// <summary>
/// The gateway answered but refused the mapping (UPnP error code, NAT-PMP or PCP result code), e.g. miniupnpd when
/// its own external address is private ("not suitable for external IP"). The node then falls back to AutoNAT and relays.
/// </summary>
public sealed class PortMappingRefusedException(string protocol, int code, string reason)
    : IOException($"{protocol} gateway refused the mapping: {code} {reason}")
{
    public string Protocol { get; } = protocol;

    /// <summary>The protocol's own code: a UPnP errorCode (e.g. 718 ConflictInMappingEntry, 501 ActionFailed), a
    /// NAT-PMP result code (e.g. 3 Network Failure) or a PCP result code (e.g. 7 NETWORK_FAILURE).</summary>
    public int Code { get; } = code;

    public string Reason { get; } = reason;
}
