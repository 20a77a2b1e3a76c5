using System.IO.Pipelines;
using P2PStack.Addressing;

namespace P2PStack.Network;

/// <summary>
/// A raw connection carried by a stream of another connection: what a virtual transport (a relay circuit, a test
/// transport) hands to the upgrader, which then runs a secure channel and a muxer inside the stream. Disposing closes
/// the stream gracefully (what was flushed arrives, then the end of the stream); <see cref="Abort"/> resets it.
/// </summary>
public sealed class StreamRawConnection : IRawConnection
{
    private readonly IStream _stream;
    private readonly TaskCompletionSource _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _disposed;

    /// <param name="stream">The carrying stream, after whatever set-up its protocol needed (bytes the remote sent
    /// after that stay in its reader and belong to this connection).</param>
    /// <param name="direction">This side's role in the upgrade.</param>
    /// <param name="localAddress">This side's address on the virtual transport.</param>
    /// <param name="remoteAddress">The remote's address on the virtual transport.</param>
    /// <param name="limits">The limits the carrier announced (a relay's), or null.</param>
    public StreamRawConnection(IStream stream, Direction direction, Multiaddr localAddress, Multiaddr remoteAddress,
        ConnectionLimits? limits = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentNullException.ThrowIfNull(localAddress);
        ArgumentNullException.ThrowIfNull(remoteAddress);
        _stream = stream;
        Direction = direction;
        LocalAddress = localAddress;
        RemoteAddress = remoteAddress;
        Limits = limits;
    }

    public PipeReader Input => _stream.Input;

    public PipeWriter Output => _stream.Output;

    public Multiaddr LocalAddress { get; }

    public Multiaddr RemoteAddress { get; }

    public Direction Direction { get; }

    public ConnectionLimits? Limits { get; }

    /// <summary>Whether the carrier hides the remote (see <see cref="IRawConnection.IsAnonymous"/>); false unless set.</summary>
    public bool IsAnonymous { get; init; }

    /// <summary>The identity this side authenticates as when inbound (see <see cref="IRawConnection.LocalIdentity"/>);
    /// null: the host's.</summary>
    public ILocalIdentity? LocalIdentity { get; init; }

    /// <summary>Completes once the connection was disposed or aborted: a stream handler that hands its stream over
    /// awaits it, since the stream ends when the handler returns.</summary>
    public Task Completion => _closed.Task;

    public void Abort()
    {
        _stream.Reset();
        _closed.TrySetResult();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        try
        {
            await _stream.DisposeAsync().ConfigureAwait(false);
        }
        finally
        {
            _closed.TrySetResult();
        }
    }
}
