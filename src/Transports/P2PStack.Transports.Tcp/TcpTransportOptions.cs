namespace P2PStack.Transports.Tcp;

/// <summary>Settings of the TCP transport.</summary>
public sealed class TcpTransportOptions
{
    /// <summary>Upper bound for one dial, DNS resolution included. The caller's token can end it sooner.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Sets SO_REUSEADDR and (on Linux and macOS) SO_REUSEPORT on listening and dialing sockets, and binds outgoing
    /// connections to a listen port of the same address family, so the remote sees our listen port (needed for TCP
    /// hole punching and for NATs that map ports 1:1).
    /// </summary>
    public bool ReusePort { get; set; }

    /// <summary>Disables Nagle's algorithm (TCP_NODELAY). libp2p protocols are latency-bound request/response.</summary>
    public bool NoDelay { get; set; } = true;

    /// <summary>Pending-connection queue length for listeners.</summary>
    public int ListenBacklog { get; set; } = 512;

    /// <summary>Bytes received but not yet read by the application before the transport stops reading the socket
    /// (backpressure then reaches the sender through TCP flow control). Same bound for unsent outgoing bytes.</summary>
    public long MaxBufferedBytes { get; set; } = 1024 * 1024;

    /// <summary>
    /// The buffer one receive fills while data keeps arriving (a bulk transfer); an idle connection waits with 16 KiB.
    /// Larger than one Noise transport message (65,537 bytes on the wire), so most messages arrive in one piece and are
    /// decrypted where they were received: a message split across two buffers is first copied together. At most
    /// <see cref="MaxBufferedBytes"/> is used.
    /// </summary>
    public int BulkReceiveBufferSize { get; set; } = 256 * 1024;

    /// <summary>How long a graceful close may spend sending data still buffered before it aborts the connection.</summary>
    public TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(5);

    internal void Validate()
    {
        if (ConnectTimeout <= TimeSpan.Zero && ConnectTimeout != Timeout.InfiniteTimeSpan)
            throw new ArgumentOutOfRangeException(nameof(ConnectTimeout), "must be positive or infinite");
        if (ListenBacklog < 1) throw new ArgumentOutOfRangeException(nameof(ListenBacklog), "must be at least 1");
        if (MaxBufferedBytes < 4096) throw new ArgumentOutOfRangeException(nameof(MaxBufferedBytes), "must be at least 4096");
        if (BulkReceiveBufferSize < 16 * 1024)
            throw new ArgumentOutOfRangeException(nameof(BulkReceiveBufferSize), "must be at least 16 KiB");
        if (CloseTimeout < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(CloseTimeout), "must not be negative");
    }
}
