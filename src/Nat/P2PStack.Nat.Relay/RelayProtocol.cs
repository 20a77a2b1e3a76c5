using P2PStack.Nat.Relay.Pb;

namespace P2PStack.Nat.Relay;

/// <summary>Protocol ids and wire constants of circuit relay v2.</summary>
public static class RelayProtocol
{
    public const string Hop = "/libp2p/circuit/relay/0.2.0/hop";

    public const string Stop = "/libp2p/circuit/relay/0.2.0/stop";

    /// <summary>Largest hop or stop message read (go-libp2p uses 4 KiB).</summary>
    public const int MaxMessageSize = 4096;

    /// <summary>Readable name of a status code, for errors and metrics.</summary>
    public static string Name(Status status) => status switch
    {
        Status.Ok => "OK",
        Status.ReservationRefused => "RESERVATION_REFUSED",
        Status.ResourceLimitExceeded => "RESOURCE_LIMIT_EXCEEDED",
        Status.PermissionDenied => "PERMISSION_DENIED",
        Status.ConnectionFailed => "CONNECTION_FAILED",
        Status.NoReservation => "NO_RESERVATION",
        Status.MalformedMessage => "MALFORMED_MESSAGE",
        Status.UnexpectedMessage => "UNEXPECTED_MESSAGE",
        _ => $"status {(int)status}",
    };
}

/// <summary>A relay message is malformed, oversized or unexpected, or a voucher does not verify.</summary>
public sealed class RelayFormatException(string message, Exception? inner = null) : P2PFormatException(message, inner);

/// <summary>The relay (or the target behind it) refused: the status says why.</summary>
public sealed class RelayRefusedException(Status status, string what)
    : IOException($"{what} refused: {RelayProtocol.Name(status)}")
{
    public Status Status { get; } = status;
}

/// <summary>A relayed connection went past the limits its relay announced (more bytes in one direction than
/// <c>Limit.data</c>, or longer than <c>Limit.duration</c> plus <see cref="RelayClientOptions.LimitGrace"/>): a relay
/// that does not enforce what it announced. Our side ended the connection.</summary>
public sealed class RelayLimitExceededException(string message) : IOException(message);
