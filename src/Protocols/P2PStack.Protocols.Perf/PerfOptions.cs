namespace P2PStack.Protocols.Perf;

public sealed class PerfOptions
{
    /// <summary>Largest download the server agrees to send on one stream; larger requests are reset.</summary>
    public ulong MaxServeBytes { get; set; } = 8UL * 1024 * 1024 * 1024;
}
