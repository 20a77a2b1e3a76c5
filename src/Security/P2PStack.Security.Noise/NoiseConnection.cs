using System.Buffers;
using System.IO.Pipelines;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Security.Noise.Protocol;

namespace P2PStack.Security.Noise;

/// <summary>
/// The transport phase: a plaintext pipe for the application fed by a read loop that decrypts frames from the raw
/// connection, and an output that gathers plaintext in a pooled buffer of its own and seals it into the raw
/// connection's buffer (<see cref="NoiseTransportWriter"/>; the raw buffer is never handed out, so a dispose during a
/// write cannot return it under the writer). No per-frame allocation; the raw connection's and the input pipe's
/// thresholds give backpressure both ways. Completing <see cref="Output"/> half-closes the raw connection after the
/// pending data; a broken frame or a failed tag fails the pending reads with <see cref="NoiseConnectionException"/>
/// and aborts the raw connection.
/// </summary>
internal sealed class NoiseConnection : INoiseSecureConnection
{
    private readonly IRawConnection _raw;
    private readonly CipherState _receive;
    private readonly Pipe _inbound;
    private readonly NoiseTransportWriter _output;
    private readonly Task _readLoop;
    private readonly byte[] _handshakeHash;
    private readonly TimeSpan _closeTimeout;
    private readonly int _flushThreshold;
    private volatile Exception? _failure;
    private volatile bool _disposing;
    private int _disposed;

    public NoiseConnection(IRawConnection raw, NoiseSuite suite, CipherState send, CipherState receive,
        PublicKey remotePublicKey, PeerId remotePeer, string? earlyMuxer, byte[] handshakeHash, NoiseOptions options)
    {
        _raw = raw;
        Suite = suite;
        _receive = receive;
        RemotePublicKey = remotePublicKey;
        RemotePeer = remotePeer;
        EarlyMuxer = earlyMuxer;
        _handshakeHash = handshakeHash;
        _closeTimeout = options.CloseTimeout;
        _flushThreshold = options.ReceiveBufferSize / 4;
        _inbound = new Pipe(PipeOptionsFor(options.ReceiveBufferSize));
        _output = new NoiseTransportWriter(raw.Output, send, Fail, () => _failure, options.WriteBufferPool);
        _readLoop = Task.Run(ReadLoopAsync);
    }

    public PipeReader Input => _inbound.Reader;

    public PipeWriter Output => _output;

    public IRawConnection Raw => _raw;

    public PeerId RemotePeer { get; }

    public PublicKey RemotePublicKey { get; }

    public string SecurityProtocol => Suite.ProtocolId;

    public string? EarlyMuxer { get; }

    public NoiseSuite Suite { get; }

    public PostQuantumLevel SecurityLevel => Suite.Level;

    public ReadOnlyMemory<byte> HandshakeHash => _handshakeHash;

    // The application's reader (the muxer) runs inline on the read loop's thread, on the plaintext just decrypted.
    private static PipeOptions PipeOptionsFor(int bufferSize) => new(
        readerScheduler: PipeScheduler.Inline,
        pauseWriterThreshold: bufferSize,
        resumeWriterThreshold: bufferSize / 2,
        minimumSegmentSize: NoiseFraming.MaxMessageLength + NoiseFraming.PrefixLength,
        useSynchronizationContext: false);

    private async Task ReadLoopAsync()
    {
        var input = _raw.Input;
        var plaintext = _inbound.Writer;
        Exception? error = null;
        try
        {
            while (true)
            {
                var result = await input.ReadAsync().ConfigureAwait(false);
                if (result.IsCanceled)
                {
                    if (_failure is { } failure)
                    {
                        throw failure;
                    }

                    break; // DisposeAsync stops the loop
                }

                var buffer = result.Buffer;
                int decrypted = 0;
                bool moreFrames = false;
                try
                {
                    while (NoiseFraming.TryReadFrame(ref buffer, out var frame))
                    {
                        decrypted += DecryptFrame(frame, plaintext);
                        if (decrypted >= _flushThreshold)
                        {
                            moreFrames = true; // hand this batch over (and honour backpressure) before the rest
                            break;
                        }
                    }
                }
                finally
                {
                    // Examined up to the end only when every whole frame was taken, else the next read would wait.
                    input.AdvanceTo(buffer.Start, moreFrames ? buffer.Start : buffer.End);
                }

                if (decrypted > 0)
                {
                    var flush = await plaintext.FlushAsync().ConfigureAwait(false);
                    if (flush.IsCompleted)
                    {
                        break; // the application completed Input: it reads no more
                    }
                }

                if (moreFrames)
                {
                    continue;
                }

                if (result.IsCompleted)
                {
                    if (!buffer.IsEmpty)
                    {
                        throw new NoiseConnectionException(
                            $"connection closed in the middle of a Noise frame ({buffer.Length} bytes left over)");
                    }

                    break; // clean end of stream from the remote: half-close reaches the application
                }
            }
        }
        catch (Exception e)
        {
            error = _failure ?? e;
            Fail(e);
        }
        finally
        {
            await CompleteQuietlyAsync(input.CompleteAsync()).ConfigureAwait(false);
            await plaintext.CompleteAsync(error).ConfigureAwait(false);
        }
    }

    /// <returns>Plaintext bytes written.</returns>
    private int DecryptFrame(ReadOnlySequence<byte> frame, PipeWriter plaintext)
    {
        if (frame.Length < CipherState.TagSize)
        {
            throw new NoiseConnectionException($"Noise transport message of {frame.Length} bytes is shorter than its tag");
        }

        int length = (int)frame.Length - CipherState.TagSize;
        try
        {
            if (frame.IsSingleSegment)
            {
                _receive.DecryptWithAd(default, frame.FirstSpan, plaintext.GetSpan(Math.Max(length, 1)));
            }
            else
            {
                // Gather the ciphertext into the plaintext area, then decrypt it in place.
                var sealedFrame = plaintext.GetSpan((int)frame.Length)[..(int)frame.Length];
                frame.CopyTo(sealedFrame);
                _receive.DecryptWithAd(default, sealedFrame, sealedFrame);
            }
        }
        catch (NoiseException e)
        {
            throw new NoiseConnectionException($"Noise transport message rejected: {e.Message}", e);
        }

        plaintext.Advance(length);
        return length;
    }

    /// <summary>Completing the raw connection's pipes must not fault a loop: the transport may already be torn down.</summary>
    private static async ValueTask CompleteQuietlyAsync(ValueTask completion)
    {
        try
        {
            await completion.ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException)
        {
        }
    }

    /// <summary>First failure wins: abort the raw connection and wake both loops so pending operations fail now.</summary>
    private void Fail(Exception error)
    {
        if (_disposing && error is OperationCanceledException)
        {
            return;
        }

        if (Interlocked.CompareExchange(ref _failure, error, null) is not null)
        {
            return;
        }

        _raw.Abort();
        _raw.Input.CancelPendingRead();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // Seal what the application wrote and half-close (the transport sends it), stop reading, then give the
        // transport CloseTimeout to send the rest before the connection is cut.
        _output.Dispose();
        await _inbound.Reader.CompleteAsync().ConfigureAwait(false);
        _disposing = true;
        _raw.Input.CancelPendingRead();
        await _readLoop.ConfigureAwait(false);
        _receive.Dispose();
        var close = _raw.DisposeAsync().AsTask();
        try
        {
            await close.WaitAsync(_closeTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _raw.Abort(); // the remote does not take our last bytes: drop the connection
            await close.ConfigureAwait(false);
        }
    }
}
