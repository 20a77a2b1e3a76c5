namespace P2PStack.Network;

/// <summary>
/// A configured limit refused a resource (connections, streams, buffered bytes, records, message size).
/// The message names the scope and the limit, so operators can tell which option to raise.
/// </summary>
public sealed class ResourceLimitExceededException(string scope, string resource, long limit)
    : InvalidOperationException($"{scope}: {resource} limit of {limit} reached")
{
    public string Scope { get; } = scope;

    public string Resource { get; } = resource;

    public long Limit { get; } = limit;
}
