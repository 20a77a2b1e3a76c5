using System.IO.Pipelines;

namespace P2PStack.Network;

/// <summary>A running muxer session. Disposing it closes every stream and the connection.</summary>
public interface IMuxerSession : IAsyncDisposable
{
    /// <summary>Opens a new outbound stream.</summary>
    /// <exception cref="MuxerClosedException">The session has ended or is going away.</exception>
    /// <exception cref="ResourceLimitExceededException">The stream limit is reached.</exception>
    ValueTask<IMuxedStream> OpenStreamAsync(CancellationToken cancellationToken);

    /// <summary>Opens a new outbound stream whose opening may wait to leave with the stream's first data (the caller
    /// writes and flushes before it waits for the remote). By default as <see cref="OpenStreamAsync"/>.</summary>
    ValueTask<IMuxedStream> OpenStreamForFirstWriteAsync(CancellationToken cancellationToken) => OpenStreamAsync(cancellationToken);

    /// <summary>Waits for the next stream the remote opened.</summary>
    /// <exception cref="MuxerClosedException">The session has ended.</exception>
    ValueTask<IMuxedStream> AcceptStreamAsync(CancellationToken cancellationToken);

    /// <summary>Streams open now, in both directions.</summary>
    int StreamCount { get; }

    /// <summary>Completes when the session has ended, for whatever reason (faulted only by a local bug).</summary>
    Task Completion { get; }

    /// <summary>Refuses new streams, lets open streams finish, then tells the remote (go-away) and closes.</summary>
    ValueTask CloseAsync(CancellationToken cancellationToken);
}

/// <summary>
/// One multiplexed stream. Completing <see cref="IDuplexPipe.Output"/> half-closes (sends FIN); the reader then sees
/// the end of the remote's data once the remote half-closes too. <see cref="Reset"/> aborts both directions.
/// Disposing closes both halves gracefully.
/// </summary>
public interface IMuxedStream : IDuplexPipe, IAsyncDisposable
{
    long Id { get; }

    Direction Direction { get; }

    /// <summary>Aborts the stream in both directions; the remote's reads and writes fail with
    /// <see cref="StreamResetException"/>.</summary>
    void Reset();

    /// <summary>Asks the muxer to resume this stream's reader on its own read loop, once per batch of data it read from
    /// the connection, instead of handing each resumption to the thread pool. Only for a reader that does little per
    /// batch and never blocks (it holds up every stream of the connection meanwhile). Returns whether the muxer does so
    /// (false unless it supports it).</summary>
    bool TryReadInline() => false;
}

/// <summary>The remote (or this side) reset the stream.</summary>
public sealed class StreamResetException(string message) : IOException(message);

/// <summary>The muxer session has ended or is going away.</summary>
public sealed class MuxerClosedException(string message, Exception? inner = null) : IOException(message, inner);
