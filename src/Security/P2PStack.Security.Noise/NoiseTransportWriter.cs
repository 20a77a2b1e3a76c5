using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.IO.Pipelines;
using System.Runtime.ExceptionServices;
using P2PStack.IO;
using P2PStack.Security.Noise.Protocol;

namespace P2PStack.Security.Noise;

/// <summary>
/// The transport phase's output. Plaintext gathers in a pooled buffer of this writer's and is sealed from there into
/// the raw connection's buffer as one Noise message when the message is full (65,519 bytes of plaintext) or on
/// flush. A flush of any size therefore goes out as maximal messages plus at most one shorter one, whatever frame
/// boundaries the writer had; no hand-off to another thread. Through <see cref="WriteDirect"/> (the muxer's data
/// frames) whole messages are sealed straight from the caller's bytes, without copying them in first. Completing
/// half-closes the raw connection after the pending data; completing with an error aborts it.
/// <para>Memory handed out by <see cref="GetMemory"/> is always the writer's own buffer, never the raw
/// connection's: a dispose of the connection by another task while the writer is between GetMemory and Advance
/// (which returns the raw connection's buffers to their pool) cannot leave the writer writing into a returned
/// buffer. That dispose aborts the connection instead of closing it (the write in progress can no longer go out),
/// and the buffer goes back to the pool once the writer lets go of it (its Advance, which then throws
/// <see cref="ObjectDisposedException"/>).</para>
/// </summary>
internal sealed class NoiseTransportWriter(
    PipeWriter raw, CipherState cipher, Action<Exception> fail, Func<Exception?> failure, ArrayPool<byte> pool)
    : PipeWriter, IDirectWriter
{
    private const int MessageCapacity = NoiseFraming.MaxTransportPlaintext;

    private readonly Lock _gate = new();
    private byte[]? _buffer;  // plaintext not sealed yet; kept between flushes only while the writer holds it
    private int _plaintext;   // plaintext bytes advanced into _buffer
    private int _handedOut;   // bytes of room handed out by the last GetMemory / GetSpan
    private bool _held;       // the writer holds _buffer: handed out and neither advanced nor given up
    private bool _completed;
    private bool _disposed;

    public override bool CanGetUnflushedBytes => true;

    public override long UnflushedBytes => _plaintext;

    public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

    public override Memory<byte> GetMemory(int sizeHint = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sizeHint);
        lock (_gate)
        {
            ThrowIfCompletedLocked();
            int wanted = Math.Max(sizeHint, 1);
            if (_plaintext > 0 && MessageCapacity - _plaintext < wanted)
            {
                SealLocked(); // the open message cannot take that much more: a new one starts
            }

            EnsureBufferLocked(_plaintext + wanted);
            // Up to the end of the message, so that filling it seals one whole message; a size hint larger than one
            // message gets the room it asked for, split into messages on Advance.
            _handedOut = wanted <= MessageCapacity ? MessageCapacity - _plaintext : _buffer.Length - _plaintext;
            _held = true;
            return _buffer.AsMemory(_plaintext, _handedOut);
        }
    }

    public override void Advance(int bytes)
    {
        lock (_gate)
        {
            ThrowIfCompletedLocked();
            if (bytes < 0 || bytes > _handedOut)
            {
                throw new ArgumentOutOfRangeException(nameof(bytes), $"advanced {bytes} bytes, but {_handedOut} were handed out");
            }

            _held = false;
            _handedOut = 0;
            _plaintext += bytes;
            SealWholeMessagesLocked();
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
            ThrowIfCompletedLocked();
            _held = false; // memory handed out and not advanced is given up, as by Write
            _handedOut = 0;
            int head = data.Length % MessageCapacity;
            AppendLocked(data[..head]);
            if (head == data.Length)
            {
                return;
            }

            SealLocked();
            for (data = data[head..]; !data.IsEmpty; data = data[MessageCapacity..])
            {
                SealToRaw(data[..MessageCapacity]);
            }
        }
    }

    public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
    {
        lock (_gate)
        {
            ThrowIfCompletedLocked();
            if (!_held)
            {
                SealLocked();
                ReturnBufferLocked(); // an idle connection holds no plaintext buffer
            }
            else if (_plaintext > 0)
            {
                // Memory handed out and not advanced yet sits behind the bytes sealed now: it can no longer join
                // them, so advancing it is refused; the buffer stays until the writer's next call.
                SealLocked();
                _handedOut = 0;
            }
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

    /// <summary>The writer's own completion (the PipeWriter contract): memory it asked for and did not advance is
    /// given up, what it advanced is sealed and the raw connection half-closed after it.</summary>
    public override void Complete(Exception? exception = null) => Close(exception, byWriter: true);

    /// <summary>The connection's close, possibly from another task than the writer's: as <see cref="Complete"/>,
    /// except that a writer caught between GetMemory and Advance keeps its buffer (returned when it lets go) and the
    /// connection is aborted, since the bytes it is writing can no longer go out. Then disposes the cipher, which no
    /// later write may use.</summary>
    public void Dispose()
    {
        Close(null, byWriter: false);
        lock (_gate)
        {
            cipher.Dispose();
        }
    }

    private void Close(Exception? exception, bool byWriter)
    {
        Exception? error = exception;
        lock (_gate)
        {
            _disposed |= !byWriter; // later writer calls throw ObjectDisposedException
            if (_completed)
            {
                return;
            }

            _completed = true;
            _handedOut = 0;
            if (_held && !byWriter)
            {
                error = new NoiseConnectionException("the Noise connection was closed while a write was in progress");
            }
            else
            {
                _held = false;
                if (error is null)
                {
                    try
                    {
                        SealLocked();
                    }
                    catch (Exception e) when (e is IOException or InvalidOperationException or ObjectDisposedException)
                    {
                        ReturnBufferLocked();
                        return; // the connection failed (and was aborted) or the transport is already torn down
                    }
                }

                ReturnBufferLocked();
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

    private void AppendLocked(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            EnsureBufferLocked(MessageCapacity);
            int take = Math.Min(data.Length, MessageCapacity - _plaintext);
            data[..take].CopyTo(_buffer.AsSpan(_plaintext));
            _plaintext += take;
            data = data[take..];
            if (_plaintext == MessageCapacity)
            {
                SealLocked();
            }
        }
    }

    /// <summary>Seals every whole message at the front of the buffer (more than one only after a large size hint)
    /// and moves the rest to the front.</summary>
    private void SealWholeMessagesLocked()
    {
        int offset = 0;
        for (; _plaintext - offset >= MessageCapacity; offset += MessageCapacity)
        {
            SealToRaw(_buffer!.AsSpan(offset, MessageCapacity));
        }

        if (offset > 0)
        {
            _buffer!.AsSpan(offset, _plaintext - offset).CopyTo(_buffer);
            _plaintext -= offset;
        }
    }

    /// <summary>Encrypts the open message into the raw connection's buffer and commits it there (not flushed).</summary>
    private void SealLocked()
    {
        if (_plaintext == 0)
        {
            return;
        }

        SealToRaw(_buffer!.AsSpan(0, _plaintext));
        _plaintext = 0;
    }

    /// <summary>Writes the length prefix and the sealed <paramref name="plaintext"/> (at most one message) into the
    /// raw connection's buffer and advances it. Raw memory is used only here, under the lock, never handed out.</summary>
    private void SealToRaw(ReadOnlySpan<byte> plaintext)
    {
        int length = NoiseFraming.PrefixLength + plaintext.Length + CipherState.TagSize;
        var frame = raw.GetSpan(length)[..length];
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

        raw.Advance(length);
    }

    /// <summary>Makes the buffer hold at least <paramref name="size"/> bytes, keeping the plaintext in it.</summary>
    [MemberNotNull(nameof(_buffer))]
    private void EnsureBufferLocked(int size)
    {
        if (_buffer is not null && _buffer.Length >= size)
        {
            return;
        }

        var larger = pool.Rent(Math.Max(size, MessageCapacity));
        _buffer?.AsSpan(0, _plaintext).CopyTo(larger);
        ReturnBufferLocked();
        _buffer = larger;
    }

    /// <summary>Every writer call starts here: after the close it throws, and a writer that held the buffer
    /// through the close lets go of it (the buffer goes back to the pool now).</summary>
    private void ThrowIfCompletedLocked()
    {
        if (!_completed)
        {
            return;
        }

        if (_held)
        {
            _held = false;
            ReturnBufferLocked();
        }

        throw _disposed
            ? new ObjectDisposedException(nameof(NoiseConnection), "the Noise connection was closed")
            : new InvalidOperationException("the Noise connection's output was completed");
    }

    private void ReturnBufferLocked()
    {
        if (_buffer is not null)
        {
            pool.Return(_buffer);
            _buffer = null;
        }
    }
}
