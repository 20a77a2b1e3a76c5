using System.Buffers;

namespace P2PStack.Muxers.Yamux;

/// <summary>Limits, windows and timeouts of a yamux session. Defaults match go-yamux and js-libp2p yamux.</summary>
public sealed class YamuxOptions
{
    /// <summary>The window both sides assume for a new stream (spec: 256 KiB).</summary>
    public const int SpecInitialWindow = 256 * 1024;

    /// <summary>Receive window granted to each new stream; anything above 256 KiB is announced with the SYN/ACK.</summary>
    public int InitialStreamWindowSize { get; set; } = SpecInitialWindow;

    /// <summary>Largest receive window auto-tuning may grow a stream to (bounds per-stream buffering).</summary>
    public int MaxStreamWindowSize { get; set; } = 16 * 1024 * 1024;

    /// <summary>Largest data frame payload sent, so one stream cannot hog the connection.</summary>
    public int MaxMessageSize { get; set; } = 64 * 1024;

    /// <summary>Concurrent streams the remote may open; further SYNs are answered with RST.</summary>
    public int MaxInboundStreams { get; set; } = 1000;

    /// <summary>Concurrent streams this side may open; further opens throw ResourceLimitExceededException.</summary>
    public int MaxOutboundStreams { get; set; } = 1000;

    /// <summary>Inbound streams waiting for AcceptStreamAsync; further SYNs are answered with RST.</summary>
    public int AcceptBacklog { get; set; } = 256;

    /// <summary>Send pings every <see cref="KeepAliveInterval"/>; a missing pong closes the session.</summary>
    public bool EnableKeepAlive { get; set; } = true;

    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a keepalive ping may wait for its pong.</summary>
    public TimeSpan PingTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long closing may spend writing the go-away before the connection is cut.</summary>
    public TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>After a stream is disposed, how long the remote has to close its half before the stream is reset.</summary>
    public TimeSpan StreamCloseTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Control frames (window updates, pongs, resets) queued while the connection is slow to take them;
    /// above this the session stops reading from the remote until the queue drains.</summary>
    public int MaxPendingControlFrames { get; set; } = 4096;

    /// <summary>Where the streams' output buffers come from (tests substitute a pool that checks every return).</summary>
    internal ArrayPool<byte> WriteBufferPool { get; set; } = ArrayPool<byte>.Shared;

    /// <summary>The clock of window auto-tuning: the pings' round trip and how fast a window is consumed (tests
    /// substitute one they control, as the tuning's outcome otherwise depends on the machine's load).</summary>
    internal TimeProvider Clock { get; set; } = TimeProvider.System;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> when a value is out of range.</summary>
    public void Validate()
    {
        Require(InitialStreamWindowSize >= SpecInitialWindow, nameof(InitialStreamWindowSize), "must be at least 256 KiB");
        Require(MaxStreamWindowSize >= InitialStreamWindowSize, nameof(MaxStreamWindowSize), "must be at least the initial window");
        Require(MaxMessageSize > 0, nameof(MaxMessageSize), "must be positive");
        Require(MaxInboundStreams >= 0, nameof(MaxInboundStreams), "must not be negative");
        Require(MaxOutboundStreams >= 0, nameof(MaxOutboundStreams), "must not be negative");
        Require(AcceptBacklog > 0, nameof(AcceptBacklog), "must be positive");
        Require(KeepAliveInterval > TimeSpan.Zero, nameof(KeepAliveInterval), "must be positive");
        Require(PingTimeout > TimeSpan.Zero, nameof(PingTimeout), "must be positive");
        Require(CloseTimeout > TimeSpan.Zero, nameof(CloseTimeout), "must be positive");
        Require(StreamCloseTimeout > TimeSpan.Zero, nameof(StreamCloseTimeout), "must be positive");
        Require(MaxPendingControlFrames > 0, nameof(MaxPendingControlFrames), "must be positive");
    }

    private static void Require(bool condition, string name, string message)
    {
        if (!condition)
        {
            throw new ArgumentOutOfRangeException(name, $"YamuxOptions.{name} {message}");
        }
    }
}
