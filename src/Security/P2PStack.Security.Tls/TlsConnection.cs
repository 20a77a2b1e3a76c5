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
        _output = new ShutdownWriter(PipeWriter.Create(ssl, new StreamPipeWriterOptions(leaveOpen: true)), ShutdownAsync);
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
            await _output.CompleteAsync().AsTask().WaitAsync(timeout.Token).ConfigureAwait(false);
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

    /// <summary>The plaintext writer: completing it without an error sends close_notify once; with an error aborts.</summary>
    private sealed class ShutdownWriter(PipeWriter inner, Func<ValueTask> shutdown) : PipeWriter
    {
        private Task? _completion;

        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);

        public override void Advance(int bytes) => inner.Advance(bytes);

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

        public override long UnflushedBytes => inner.UnflushedBytes;

        // Synchronous Complete cannot send: the data and close_notify go out on a task that CompleteAsync and
        // the connection's dispose await.
        public override void Complete(Exception? exception = null)
        {
            if (exception is not null)
            {
                inner.Complete(exception);
                return;
            }
            lock (this) _completion ??= CompleteCoreAsync();
        }

        public override ValueTask CompleteAsync(Exception? exception = null)
        {
            if (exception is not null) return inner.CompleteAsync(exception);
            lock (this) _completion ??= CompleteCoreAsync();
            return new ValueTask(_completion);
        }

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
