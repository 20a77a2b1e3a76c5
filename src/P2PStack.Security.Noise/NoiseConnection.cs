using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Security.Noise.Protocol;

namespace P2PStack.Security.Noise;

/// <summary>
/// The transport phase: plaintext pipes for the application, a read loop that decrypts frames from the raw
/// connection, and a write loop that encrypts what the application writes. Frames are decrypted and encrypted in
/// place in pipe memory (no per-frame allocation); the pipes' thresholds give backpressure both ways.
/// Completing <see cref="Output"/> half-closes the raw connection after the pending data; a broken frame or a
/// failed tag fails the pending reads with <see cref="NoiseConnectionException"/> and aborts the raw connection.
/// </summary>
internal sealed class NoiseConnection : INoiseSecureConnection
{
    private readonly IRawConnection _raw;
    private readonly CipherState _send;
    private readonly CipherState _receive;
    private readonly Pipe _inbound;
    private readonly Pipe _outbound;
    private readonly Task _readLoop;
    private readonly Task _writeLoop;
    private readonly byte[] _handshakeHash;
    private readonly TimeSpan _closeTimeout;
    private volatile Exception? _failure;
    private volatile bool _disposing;
    private int _disposed;

    public NoiseConnection(IRawConnection raw, NoiseSuite suite, CipherState send, CipherState receive,
        PublicKey remotePublicKey, PeerId remotePeer, string? earlyMuxer, byte[] handshakeHash, NoiseOptions options)
    {
        _raw = raw;
        Suite = suite;
        _send = send;
        _receive = receive;
        RemotePublicKey = remotePublicKey;
        RemotePeer = remotePeer;
        EarlyMuxer = earlyMuxer;
        _handshakeHash = handshakeHash;
        _closeTimeout = options.CloseTimeout;
        _inbound = new Pipe(PipeOptionsFor(options.ReceiveBufferSize));
        _outbound = new Pipe(PipeOptionsFor(options.SendBufferSize));
        _readLoop = Task.Run(ReadLoopAsync);
        _writeLoop = Task.Run(WriteLoopAsync);
    }

    public PipeReader Input => _inbound.Reader;

    public PipeWriter Output => _outbound.Writer;

    public IRawConnection Raw => _raw;

    public PeerId RemotePeer { get; }

    public PublicKey RemotePublicKey { get; }

    public string SecurityProtocol => Suite.ProtocolId;

    public string? EarlyMuxer { get; }

    public NoiseSuite Suite { get; }

    public PostQuantumLevel SecurityLevel => Suite.Level;

    public ReadOnlyMemory<byte> HandshakeHash => _handshakeHash;

    private static PipeOptions PipeOptionsFor(int bufferSize) => new(
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
                bool decrypted = false;
                try
                {
                    while (NoiseFraming.TryReadFrame(ref buffer, out var frame))
                    {
                        DecryptFrame(frame, plaintext);
                        decrypted = true;
                    }
                }
                finally
                {
                    input.AdvanceTo(buffer.Start, buffer.End);
                }

                if (decrypted)
                {
                    var flush = await plaintext.FlushAsync().ConfigureAwait(false);
                    if (flush.IsCompleted)
                    {
                        break; // the application completed Input: it reads no more
                    }
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
            await input.CompleteAsync().ConfigureAwait(false);
            await plaintext.CompleteAsync(error).ConfigureAwait(false);
        }
    }

    private void DecryptFrame(ReadOnlySequence<byte> frame, PipeWriter plaintext)
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
    }

    private async Task WriteLoopAsync()
    {
        var plaintext = _outbound.Reader;
        var output = _raw.Output;
        Exception? error = null;
        try
        {
            while (true)
            {
                var result = await plaintext.ReadAsync().ConfigureAwait(false);
                if (_failure is { } failure)
                {
                    throw failure;
                }

                var buffer = result.Buffer;
                while (!buffer.IsEmpty)
                {
                    int chunk = (int)Math.Min(buffer.Length, NoiseFraming.MaxTransportPlaintext);
                    EncryptFrame(buffer.Slice(0, chunk), output);
                    buffer = buffer.Slice(chunk);
                }

                plaintext.AdvanceTo(result.Buffer.End);
                var flush = await output.FlushAsync().ConfigureAwait(false);
                if (flush.IsCompleted)
                {
                    throw new NoiseConnectionException("the remote stopped reading the connection");
                }

                if (result.IsCompleted || result.IsCanceled)
                {
                    break;
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
            await plaintext.CompleteAsync(error).ConfigureAwait(false);
            if (error is null)
            {
                await output.CompleteAsync().ConfigureAwait(false); // half-close: the remote sees end of stream
            }
        }
    }

    private void EncryptFrame(ReadOnlySequence<byte> chunk, PipeWriter output)
    {
        int length = (int)chunk.Length;
        int sealedLength = length + CipherState.TagSize;
        Span<byte> frame = output.GetSpan(NoiseFraming.PrefixLength + sealedLength);
        BinaryPrimitives.WriteUInt16BigEndian(frame, (ushort)sealedLength);
        Span<byte> body = frame.Slice(NoiseFraming.PrefixLength, sealedLength);
        chunk.CopyTo(body);
        try
        {
            _send.EncryptWithAd(default, body[..length], body);
        }
        catch (NoiseException e)
        {
            throw new NoiseConnectionException(e.Message, e);
        }

        output.Advance(NoiseFraming.PrefixLength + sealedLength);
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
        _outbound.Reader.CancelPendingRead();
        _raw.Input.CancelPendingRead();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        // Let queued plaintext go out (bounded by CloseTimeout), then half-close; stop reading.
        await _outbound.Writer.CompleteAsync().ConfigureAwait(false);
        await _inbound.Reader.CompleteAsync().ConfigureAwait(false);
        try
        {
            await _writeLoop.WaitAsync(_closeTimeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            _raw.Abort(); // the remote does not take our last bytes: drop the connection
            await _writeLoop.ConfigureAwait(false);
        }

        _disposing = true;
        _raw.Input.CancelPendingRead();
        await _readLoop.ConfigureAwait(false);
        _send.Dispose();
        _receive.Dispose();
        await _raw.DisposeAsync().ConfigureAwait(false);
    }
}
