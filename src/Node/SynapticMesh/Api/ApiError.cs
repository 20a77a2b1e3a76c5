using System.Security.Authentication;
using P2PStack;
using P2PStack.Network;

namespace SynapticMesh.Api;

/// <summary>The body of every failed control API response.</summary>
public sealed record ApiError(string Error);

/// <summary>A request the node refuses, with the HTTP status to answer.</summary>
public sealed class ApiException(int status, string message, Exception? inner = null) : Exception(message, inner)
{
    public int Status { get; } = status;
}

/// <summary>Maps what a p2p operation throws to an HTTP status and a one-line message for the CLI.</summary>
public static class ApiErrors
{
    public static (int Status, string Message) Map(Exception error) => error switch
    {
        ApiException api => (api.Status, api.Message),
        P2PFormatException or ArgumentException => (StatusCodes.BadRequest, error.Message),
        ConnectionGatedException => (StatusCodes.Forbidden, error.Message),
        ResourceLimitExceededException => (StatusCodes.ServiceUnavailable, error.Message),
        ProtocolNotSupportedException => (StatusCodes.BadGateway, error.Message),
        DialFailedException or AuthenticationException or IOException or InvalidDataException or NotSupportedException
            => (StatusCodes.BadGateway, error.Message),
        TimeoutException or OperationCanceledException => (StatusCodes.GatewayTimeout, "the operation timed out"),
        _ => (StatusCodes.InternalServerError, $"{error.GetType().Name}: {error.Message}"),
    };

    private static class StatusCodes
    {
        public const int BadRequest = 400;
        public const int Forbidden = 403;
        public const int InternalServerError = 500;
        public const int BadGateway = 502;
        public const int ServiceUnavailable = 503;
        public const int GatewayTimeout = 504;
    }
}
