namespace P2PStack.Registry;

/// <summary>A request the registry refuses: <see cref="Status"/> is the HTTP status, the message goes to the client.</summary>
public sealed class RegistryException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;

    /// <summary>Answer with <c>WWW-Authenticate: Bearer</c> (a read without credentials).</summary>
    public bool BearerChallenge { get; init; }

    public static RegistryException BadRequest(string message) => new(400, message);
    public static RegistryException Unauthorized(string message) => new(401, message);
    public static RegistryException Forbidden(string message) => new(403, message);
    public static RegistryException NotFound(string message) => new(404, message);
    public static RegistryException TooLarge(string message) => new(413, message);
    public static RegistryException Unavailable(string message) => new(503, message);
}
