using Microsoft.Extensions.Logging;

namespace P2PStack.Muxers.Yamux;

internal static partial class Log
{
    [LoggerMessage(1, LogLevel.Warning, "yamux session closed: remote broke the protocol: {Reason}")]
    public static partial void ProtocolViolation(ILogger logger, string reason);

    [LoggerMessage(2, LogLevel.Debug, "yamux session ended: {Reason}")]
    public static partial void SessionEnded(ILogger logger, string reason);

    [LoggerMessage(3, LogLevel.Debug, "yamux remote sent go-away {Code}")]
    public static partial void GoAwayReceived(ILogger logger, GoAwayCode code);

    [LoggerMessage(4, LogLevel.Debug, "yamux refused inbound stream {StreamId}: {Reason}")]
    public static partial void InboundStreamRefused(ILogger logger, uint streamId, string reason);

    [LoggerMessage(5, LogLevel.Trace, "yamux ignored {Frame} for a closed stream")]
    public static partial void FrameForClosedStream(ILogger logger, YamuxFrameHeader frame);

    [LoggerMessage(6, LogLevel.Warning, "yamux keepalive ping got no answer within {Timeout}; closing the session")]
    public static partial void KeepAliveTimeout(ILogger logger, TimeSpan timeout);

    [LoggerMessage(7, LogLevel.Warning, "yamux connection close callback failed")]
    public static partial void OnClosedFailed(ILogger logger, Exception exception);

    [LoggerMessage(8, LogLevel.Debug, "yamux stream {StreamId} could not finish closing")]
    public static partial void StreamCloseFailed(ILogger logger, long streamId, Exception exception);

    [LoggerMessage(10, LogLevel.Debug, "yamux stream {StreamId} was not closed by the remote within {Timeout} of its disposal; resetting it")]
    public static partial void StreamCloseTimedOut(ILogger logger, long streamId, TimeSpan timeout);

    [LoggerMessage(9, LogLevel.Error, "yamux session failed internally")]
    public static partial void InternalError(ILogger logger, Exception exception);
}
