namespace P2PStack.Network;

/// <summary>
/// A configured limit refused a resource (connections, streams, buffered bytes, records, message size).
/// The message names the scope and the limit, so operators can tell which option to raise.
/// </summary>
public sealed class ResourceLimitExceededException : InvalidOperationException
{
    public ResourceLimitExceededException(string scope, string resource, long limit)
        : base($"{scope}: {resource} limit of {limit} reached")
    {
        Scope = scope;
        Resource = resource;
        Limit = limit;
    }

    /// <summary>A refusal by the resource manager, which knows the usage too:
    /// "resource limit exceeded: peer 12D3KooW… streams inbound 256/256 (+1)".</summary>
    /// <param name="used">What the scope held when the request came.</param>
    /// <param name="requested">What the request asked for.</param>
    public ResourceLimitExceededException(string scope, string resource, long used, long requested, long limit)
        : base($"resource limit exceeded: {scope} {resource} {used}/{limit} (+{requested})")
    {
        Scope = scope;
        Resource = resource;
        Limit = limit;
        Used = used;
        Requested = requested;
    }

    public string Scope { get; }

    public string Resource { get; }

    public long Limit { get; }

    /// <summary>What the scope held when the request was refused (null when the refusing code does not track it).</summary>
    public long? Used { get; }

    /// <summary>What the refused request asked for (null when the refusing code does not track it).</summary>
    public long? Requested { get; }
}
