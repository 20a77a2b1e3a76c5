namespace SynapticMesh.Api;

/// <summary>Limits of the control API.</summary>
public sealed class ControlApiOptions
{
    /// <summary>Budget of one request's p2p work (dial plus ping or perf); the client can cancel sooner.</summary>
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Most pings one request may send.</summary>
    public int MaxPingCount { get; set; } = 10_000;

    /// <summary>
    /// Largest request body accepted: room for the largest payload the node takes (a 1 MiB pubsub message in base64,
    /// a message content with every character JSON-escaped), so that the payload's own limit is the one reported.
    /// </summary>
    public long MaxRequestBodySize { get; set; } = 4 * 1024 * 1024;
}
