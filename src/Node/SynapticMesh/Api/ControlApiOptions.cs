namespace SynapticMesh.Api;

/// <summary>Limits of the control API.</summary>
public sealed class ControlApiOptions
{
    /// <summary>Budget of one request's p2p work (dial plus ping or perf); the client can cancel sooner.</summary>
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Most pings one request may send.</summary>
    public int MaxPingCount { get; set; } = 10_000;

    /// <summary>Largest request body accepted.</summary>
    public long MaxRequestBodySize { get; set; } = 64 * 1024;
}
