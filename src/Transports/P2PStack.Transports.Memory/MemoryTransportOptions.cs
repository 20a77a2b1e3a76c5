namespace P2PStack.Transports.Memory;

/// <summary>Settings of the in-memory transport.</summary>
public sealed class MemoryTransportOptions
{
    /// <summary>Bytes one direction of a connection buffers before the writer's flush waits for the reader
    /// (backpressure, like a TCP window).</summary>
    public long MaxBufferedBytes { get; set; } = 1024 * 1024;

    /// <summary>Connections a listener queues before it accepts them; further dials are refused.</summary>
    public int AcceptBacklog { get; set; } = 128;

    internal void Validate()
    {
        if (MaxBufferedBytes < 1) throw new ArgumentOutOfRangeException(nameof(MaxBufferedBytes), "must be positive");
        if (AcceptBacklog < 1) throw new ArgumentOutOfRangeException(nameof(AcceptBacklog), "must be at least 1");
    }
}
