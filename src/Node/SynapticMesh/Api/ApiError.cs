using System.Security.Authentication;
using P2PStack;
using P2PStack.Network;
using P2PStack.Neural;
using P2PStack.Protocols.GossipSub;
using P2PStack.Protocols.Kademlia;
using SynapticMesh.Cli;

namespace SynapticMesh.Api;

/// <summary>The body of every failed control API response: a one-line message and a stable <see cref="ErrorCodes"/> code.</summary>
public sealed record ApiError(string Error, string? Code = null);

/// <summary>A request the node refuses, with the HTTP status to answer (and a code; by default the status's).</summary>
public sealed class ApiException(int status, string message, Exception? inner = null, string? code = null) : Exception(message, inner)
{
    public int Status { get; } = status;

    public string Code { get; } = code ?? ApiErrors.CodeFor(status);

    public static ApiException BadRequest(string message) => new(StatusCodes.BadRequest, message);

    public static ApiException NotFound(string message) => new(StatusCodes.NotFound, message);

    public static class StatusCodes
    {
        public const int BadRequest = 400;
        public const int Forbidden = 403;
        public const int NotFound = 404;
        public const int Conflict = 409;
        public const int InternalServerError = 500;
        public const int BadGateway = 502;
        public const int ServiceUnavailable = 503;
        public const int GatewayTimeout = 504;
    }
}

/// <summary>Maps what a p2p operation throws to an HTTP status, a one-line message and an error code for the CLI.</summary>
public static class ApiErrors
{
    public static (int Status, string Message, string Code) Map(Exception error)
    {
        var (status, message) = error switch
        {
            ApiException api => (api.Status, api.Message),
            DhtNotFoundException or AgentNotFoundException => (Codes.NotFound, ErrorText.Of(error)),
            DhtNoPeersException => (Codes.NotFound, $"{ErrorText.Of(error)} (connect to a peer or configure bootstrap peers first)"),
            InvalidRecordException or MessageRejectedException => (Codes.BadRequest, ErrorText.Of(error)),
            P2PFormatException or ArgumentException => (Codes.BadRequest, ErrorText.Of(error)),
            ConnectionGatedException => (Codes.Forbidden, ErrorText.Of(error)),
            ResourceLimitExceededException or DhtStoreLimitException => (Codes.ServiceUnavailable, ErrorText.Of(error)),
            ProtocolNotSupportedException => (Codes.Forbidden, ErrorText.Of(error)),
            DialFailedException or AuthenticationException or IOException or InvalidDataException or NotSupportedException
                => (Codes.BadGateway, ErrorText.Of(error)),
            TimeoutException or CommandTimeoutException or OperationCanceledException => (Codes.GatewayTimeout, "the operation timed out"),
            InvalidOperationException => (Codes.Conflict, ErrorText.Of(error)),
            _ => (Codes.InternalServerError, $"the node failed unexpectedly: {ErrorText.Of(error)}"),
        };
        return (status, message, error is ApiException known ? known.Code : CodeFor(status));
    }

    /// <summary>The error code of an HTTP status, for answers that carry none.</summary>
    public static string CodeFor(int status) => status switch
    {
        Codes.BadRequest => ErrorCodes.Invalid,
        401 => ErrorCodes.Refused, // the token in api.json is not the running node's
        Codes.Forbidden => ErrorCodes.Refused,
        Codes.NotFound => ErrorCodes.NotFound,
        Codes.Conflict => ErrorCodes.Failed,
        Codes.BadGateway => ErrorCodes.Unreachable,
        Codes.ServiceUnavailable => ErrorCodes.Limit,
        Codes.GatewayTimeout => ErrorCodes.Timeout,
        Codes.InternalServerError => ErrorCodes.Internal,
        _ => ErrorCodes.Failed,
    };

    private static class Codes
    {
        public const int BadRequest = ApiException.StatusCodes.BadRequest;
        public const int Forbidden = ApiException.StatusCodes.Forbidden;
        public const int NotFound = ApiException.StatusCodes.NotFound;
        public const int Conflict = ApiException.StatusCodes.Conflict;
        public const int InternalServerError = ApiException.StatusCodes.InternalServerError;
        public const int BadGateway = ApiException.StatusCodes.BadGateway;
        public const int ServiceUnavailable = ApiException.StatusCodes.ServiceUnavailable;
        public const int GatewayTimeout = ApiException.StatusCodes.GatewayTimeout;
    }
}
