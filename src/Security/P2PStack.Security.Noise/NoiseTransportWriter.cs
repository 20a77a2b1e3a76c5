using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Runtime.ExceptionServices;
using P2PStack.IO;
using P2PStack.Security.Noise.Protocol;

namespace P2PStack.Security.Noise;

/// <summary>
/// The transport phase's output. Plaintext is written straight into the raw connection's buffer, behind room for the
/// 2-byte length, and sealed there in place into one Noise message when the message is full (65,519 bytes of
/// plaintext) or on flush. A flush of any size therefore goes out as maximal messages plus at most one shorter
/// one, whatever frame boundaries the writer had; no copy, no hand-off to another thread. Through
/// <see cref="WriteDirect"/> (the muxer's data frames) whole messages are sealed straight from the caller's bytes,
/// without copying them in first. Completing half-closes the raw connection after the pending data; completing with
/// an error aborts it.
/// </summary>
internal sealed class NoiseTransportWriter(PipeWriter raw, CipherState cipher, Action<Exception> fail, Func<Exception?> failure)
    : PipeWriter, IDirectWriter
{
    private const int MessageCapacity = NoiseFraming.MaxTransportPlaintext;

    private readonly Lock _gate = new();
    private Memory<byte> _message; // raw memory of the open message: length, plaintext, room for the tag
    private int _plaintext;        // plaintext bytes advanced into the open message
    private int _handedOut;        // bytes of room handed out by the last GetMemory / GetSpan
    private byte[]? _overflow;     // staging for a size hint larger than one message
    private bool _completed;

    public override bool CanGetUnflushedBytes => true;

    public override long UnflushedBytes => _plaintext;

    public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sizeHint);
        lock (_gate)
        {
            ThrowIfCompleted();
            int wanted = Math.Max(sizeHint, 1);
            if (wanted > MessageCapacity)
            {
                // No message holds that much contiguous plaintext: stage it, and split it into messages on Advance.
                if (_overflow is null || _overflow.Length < wanted)
                {
                    ReturnOverflow();
                    _overflow = ArrayPool<byte>.Shared.Rent(wanted);
                }

                _handedOut = -_overflow.Length;
                return _overflow;
            }

            if (!_message.IsEmpty && MessageCapacity - _plaintext < wanted)
            {
                SealLocked();
            }

            if (_message.IsEmpty)
            {
                _message = raw.GetMemory(NoiseFraming.PrefixLength + NoiseFraming.MaxMessageLength);
            }

            _handedOut = MessageCapacity - _plaintext;
            return _message.Slice(NoiseFraming.PrefixLength + _plaintext, _handedOut);
        }
    }

    public override void Advance(int bytes)
    {
        lock (_gate)
        {
            ThrowIfCompleted();
            int available = Math.Abs(_handedOut);
            if (bytes < 0 || bytes > available)
            {
                throw new ArgumentOutOfRangeException(nameof(bytes), $"advanced {bytes} bytes, but {available} were handed out");
            }

            bool staged = _handedOut < 0;
            _handedOut = 0;
            if (staged)
            {
                AppendLocked(_overflow.AsSpan(0, bytes));
                return;
            }

            _plaintext += bytes;
            if (_plaintext == MessageCapacity)
            {
                SealLocked();
            }
        }
    }

    /// <summary>
    /// Writes <paramref name="data"/> (not flushed) with as little copying as the messages allow: its first
    /// <c>data.Length % 65,519</c> bytes join the bytes written before them in the open message (copied, as
    /// <c>Write</c> would), which is then sealed; the rest is sealed as whole messages straight from
    /// <paramref name="data"/> into the raw connection's buffer. A 64 KiB yamux frame (a 12-byte header written
    /// before, 65,536 bytes of data) thus costs a 29-byte copy and two messages, where copying it all costs
    /// 65,548 bytes and two messages too.
    /// </summary>
    public void WriteDirect(ReadOnlySpan<byte> data)
    {
        lock (_gate)
        {
            ThrowIfCompleted();
            _handedOut = 0; // memory handed out and not advanced is given up, as by Write
            int head = data.Length % MessageCapacity;
            AppendLocked(data[..head]);
            if (head == data.Length)
            {
                return;
            }

            SealLocked();
            _message = default; // raw memory taken by GetMemory with nothing written into it yet
            for (data = data[head..]; !data.IsEmpty; data = data[MessageCapacity..])
            {
                var frame = raw.GetSpan(NoiseFraming.PrefixLength + NoiseFraming.MaxMessageLength)
                    [..(NoiseFraming.PrefixLength + NoiseFraming.MaxMessageLength)];
                Seal(data[..MessageCapacity], frame);
                raw.Advance(frame.Length);
            }
        }
    }

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            ThrowIfCompleted();
            SealLocked();
        }

        if (failure() is { } error)
        {
            ExceptionDispatchInfo.Throw(error);
        }

        ValueTask<FlushResult> flush;
        try
        {
            flush = raw.FlushAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            fail(e);
            throw;
        }

        return flush.IsCompletedSuccessfully ? new ValueTask<FlushResult>(Checked(flush.Result)) : AwaitFlushAsync(flush);
    }

    private async ValueTask<FlushResult> AwaitFlushAsync(ValueTask<FlushResult> flush)
    {
        FlushResult result;
        try
        {
            result = await flush.ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            fail(e);
            throw;
        }

        return Checked(result);
    }

    private FlushResult Checked(FlushResult result)
    {
        if (result.IsCompleted && !result.IsCanceled)
        {
            var error = new NoiseConnectionException("the remote stopped reading the connection");
            fail(error);
            throw error;
        }

        return result;
    }

    public override void CancelPendingFlush() => raw.CancelPendingFlush();

    public override void Complete(Exception? exception = null)
    {
        Exception? error = exception;
        lock (_gate)
        {
            if (_completed)
            {
                return;
            }

            _completed = true;
            ReturnOverflow();
            if (error is null)
            {
                try
                {
                    SealLocked();
                }
                catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException)
                {
                    return; // the connection failed (and was aborted) or the transport is already torn down
                }
            }
        }

        if (error is not null)
        {
            fail(error); // aborts the raw connection
            return;
        }

        try
        {
            raw.Complete(); // half-close: the remote sees end of stream after the pending data
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException)
        {
            // The transport is already torn down.
        }
    }

    /// <summary>Completes (as <see cref="Complete"/>) and disposes the cipher, which no later write may use.</summary>
    public void Dispose()
    {
        Complete();
        lock (_gate)
        {
            cipher.Dispose();
        }
    }

    private void AppendLocked(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            if (_message.IsEmpty)
            {
                _message = raw.GetMemory(NoiseFraming.PrefixLength + NoiseFraming.MaxMessageLength);
            }

            int take = Math.Min(data.Length, MessageCapacity - _plaintext);
            data[..take].CopyTo(_message.Span[(NoiseFraming.PrefixLength + _plaintext)..]);
            _plaintext += take;
            data = data[take..];
            if (_plaintext == MessageCapacity)
            {
                SealLocked();
            }
        }
    }

    /// <summary>Encrypts the open message in place and commits it to the raw connection (not flushed).</summary>
    private void SealLocked()
    {
        if (_plaintext == 0)
        {
            return;
        }

        var frame = _message.Span[..(NoiseFraming.PrefixLength + _plaintext + CipherState.TagSize)];
        Seal(frame.Slice(NoiseFraming.PrefixLength, _plaintext), frame);
        raw.Advance(frame.Length);
        _message = default;
        _plaintext = 0;
    }

    /// <summary>Writes the length prefix and the sealed <paramref name="plaintext"/> into <paramref name="frame"/>
    /// (its exact size); the plaintext may be the frame's own body (sealed in place).</summary>
    private void Seal(ReadOnlySpan<byte> plaintext, Span<byte> frame)
    {
        BinaryPrimitives.WriteUInt16BigEndian(frame, (ushort)(plaintext.Length + CipherState.TagSize));
        try
        {
            cipher.EncryptWithAd(default, plaintext, frame[NoiseFraming.PrefixLength..]);
        }
        catch (NoiseException e) // the nonce is exhausted: the connection cannot carry another message
        {
            var error = new NoiseConnectionException(e.Message, e);
            fail(error);
            throw error;
        }
    }

    private void ThrowIfCompleted()
    {
        if (_completed)
        {
            throw new InvalidOperationException("the Noise connection's output was completed");
        }
    }

    private void ReturnOverflow()
    {
        if (_overflow is not null)
        {
            ArrayPool<byte>.Shared.Return(_overflow);
            _overflow = null;
        }
    }
}
