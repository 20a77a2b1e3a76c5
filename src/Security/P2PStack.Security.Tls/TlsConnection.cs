using System.IO.Pipelines;
using System.Net.Security;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Security.Tls;

/// <summary>
/// A libp2p TLS connection: plaintext pipes over an authenticated SslStream. Completing <see cref="Output"/> sends
/// close_notify (TLS 1.3 half-close) and then half-closes the raw connection; the remote's close_notify (or the end of
/// the raw connection) ends <see cref="Input"/>. Disposing closes gracefully within the close timeout, else aborts.
/// </summary>
internal sealed class TlsConnection : ISecureConnection
{
    private readonly SslStream _ssl;
    private readonly IRawConnection _raw;
    private readonly TlsOptions _options;
    private readonly ShutdownWriter _output;
    private int _disposed;

    public TlsConnection(SslStream ssl, IRawConnection raw, PublicKey remoteKey, PeerId remotePeer, string? earlyMuxer,
        TlsOptions options)
    {
        _ssl = ssl;
        _raw = raw;
        _options = options;
        RemotePublicKey = remoteKey;
        RemotePeer = remotePeer;
        EarlyMuxer = earlyMuxer;
        Input = PipeReader.Create(ssl, new StreamPipeReaderOptions(bufferSize: options.ReadBufferSize,
            minimumReadSize: Math.Min(4096, options.ReadBufferSize), leaveOpen: true));
        _output = new ShutdownWriter(
            PipeWriter.Create(ssl, new StreamPipeWriterOptions(pool: options.WriteBufferPool, leaveOpen: true)), ShutdownAsync, raw.Abort);
    }

    public PipeReader Input { get; }

    public PipeWriter Output => _output;

    public IRawConnection Raw => _raw;

    public PeerId RemotePeer { get; }

    public PublicKey RemotePublicKey { get; }

    public string SecurityProtocol => TlsSecureChannel.Protocol;

    public string? EarlyMuxer { get; }

    /// <summary>The TLS cipher suite agreed, for status output.</summary>
    public TlsCipherSuite CipherSuite => _ssl.NegotiatedCipherSuite;

    private async ValueTask ShutdownAsync()
    {
        await _ssl.ShutdownAsync().ConfigureAwait(false); // close_notify: no more data from us
        await _raw.Output.CompleteAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        using var timeout = new CancellationTokenSource(_options.CloseTimeout);
        try
        {
            await _output.CloseAsync().WaitAsync(timeout.Token).ConfigureAwait(false);
            await _raw.DisposeAsync().AsTask().WaitAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception)
        {
            // Whatever stopped the graceful close (a reset, a failed or unfinished session, the timeout), dispose
            // must not throw.
            _raw.Abort(); // the remote does not take our last bytes: drop the connection
        }
        await Input.CompleteAsync().ConfigureAwait(false);
        await _ssl.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>
    /// The plaintext writer: completing it without an error sends close_notify once; with an error aborts. The
    /// connection's dispose (<see cref="CloseAsync"/>) may come from another task while the writer is between
    /// GetMemory and Advance or inside a flush, holding the inner writer's pooled buffers: it then aborts the raw
    /// connection and leaves the inner writer alone; the writer's next call (or the end of its flush) completes it,
    /// which returns those buffers, and throws <see cref="ObjectDisposedException"/>.
    /// </summary>
    private sealed class ShutdownWriter(PipeWriter inner, Func<ValueTask> shutdown, Action abort) : PipeWriter
    {
        private readonly Lock _gate = new();
        private bool _held;          // the writer uses the inner writer: GetMemory..Advance, or a flush in flight
        private bool _closed;        // completed by the writer, or closed by the connection's dispose
        private bool _disposed;      // closed by the connection's dispose
        private bool _innerReleased; // the inner writer was completed after a close that found it held
        private Task? _completion;

        public override Memory<byte> GetMemory(int sizeHint = 0)
        {
            Enter();
            return inner.GetMemory(sizeHint);
        }

        public override Span<byte> GetSpan(int sizeHint = 0)
        {
            Enter();
            return inner.GetSpan(sizeHint);
        }

        public override void Advance(int bytes)
        {
            Enter();
            try
            {
                inner.Advance(bytes);
            }
            finally
            {
                Exit();
            }
        }

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            Enter();
            ValueTask<FlushResult> flush;
            try
            {
                flush = inner.FlushAsync(cancellationToken);
            }
            catch
            {
                Exit();
                throw;
            }

            if (flush.IsCompletedSuccessfully)
            {
                var result = flush.Result;
                Exit();
                return new ValueTask<FlushResult>(result);
            }

            return ExitAfterAsync(flush);
        }

        private async ValueTask<FlushResult> ExitAfterAsync(ValueTask<FlushResult> flush)
        {
            try
            {
                return await flush.ConfigureAwait(false);
            }
            finally
            {
                Exit();
            }
        }

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

        public override long UnflushedBytes => inner.UnflushedBytes;

        // Synchronous Complete cannot send: the data and close_notify go out on a task that CompleteAsync and
        // the connection's dispose await. The writer's own completion gives up memory it asked for and did not advance.
        public override void Complete(Exception? exception = null) => _ = CompleteAsync(exception);

        public override ValueTask CompleteAsync(Exception? exception = null)
        {
            lock (_gate)
            {
                if (_closed)
                {
                    return new ValueTask(_completion ?? Task.CompletedTask);
                }

                _closed = true;
                _held = false;
                if (exception is null)
                {
                    _completion = CompleteCoreAsync();
                    return new ValueTask(_completion);
                }
            }

            return inner.CompleteAsync(exception);
        }

        /// <summary>The connection's dispose: as the writer's CompleteAsync, unless the writer is using the inner
        /// writer right now; then the raw connection is aborted (the bytes being written cannot go out).</summary>
        public Task CloseAsync()
        {
            lock (_gate)
            {
                _disposed = true;
                if (_closed)
                {
                    return _completion ?? Task.CompletedTask;
                }

                _closed = true;
                if (!_held)
                {
                    return _completion = CompleteCoreAsync();
                }
            }

            abort();
            return Task.CompletedTask;
        }

        /// <summary>The writer starts using the inner writer; throws once the writer is closed.</summary>
        private void Enter()
        {
            lock (_gate)
            {
                if (!_closed)
                {
                    _held = true;
                    return;
                }

                ReleaseInnerLocked();
                throw Closed();
            }
        }

        /// <summary>The writer lets go of the inner writer; throws when a close came meanwhile.</summary>
        private void Exit()
        {
            lock (_gate)
            {
                if (!_closed)
                {
                    _held = false;
                    return;
                }

                ReleaseInnerLocked();
                throw Closed();
            }
        }

        /// <summary>After a close that found the writer holding the inner writer: completes it (returning its
        /// buffers) without writing, once.</summary>
        private void ReleaseInnerLocked()
        {
            if (_held && _disposed && !_innerReleased && _completion is null)
            {
                _innerReleased = true;
                _held = false;
                inner.Complete(new ObjectDisposedException(nameof(TlsConnection)));
            }
        }

        private Exception Closed() => _disposed
            ? new ObjectDisposedException(nameof(TlsConnection), "the TLS connection was closed")
            : new InvalidOperationException("the TLS connection's output was completed");

        private async Task CompleteCoreAsync()
        {
            await Task.Yield();
            try
            {
                await inner.FlushAsync().ConfigureAwait(false);
            }
            finally
            {
                await inner.CompleteAsync().ConfigureAwait(false);
            }
            await shutdown().ConfigureAwait(false);
        }
    }
}
