using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.InteropServices;
using P2PStack.Network;

namespace P2PStack.Security.Pnet;

/// <summary>
/// A raw connection inside a private network: every byte written is XORed with this side's XSalsa20 key stream,
/// every byte read with the remote's. No copy and no extra task: the writer encrypts in place in the transport's
/// buffer as it is advanced, the reader decrypts in place the bytes the transport's pipe has not handed out before.
/// </summary>
internal sealed class PnetConnection : DelegatingRawConnection
{
    private readonly DecryptingReader _input;
    private readonly EncryptingWriter _output;

    // What the carrier says of the connection holds inside the private network too (a relay's limits, an onion
    // destination's anonymity, a shadow service's identity and required filters, an admission taken at accept): the
    // base passes it on.
    public PnetConnection(IRawConnection inner, XSalsa20 writeStream, XSalsa20 readStream)
        : base(inner)
    {
        _input = new DecryptingReader(inner.Input, readStream);
        _output = new EncryptingWriter(inner.Output, writeStream);
    }

    public override PipeReader Input => _input;

    public override PipeWriter Output => _output;

    private sealed class EncryptingWriter(PipeWriter inner, XSalsa20 cipher) : PipeWriter
    {
        private Memory<byte> _memory;

        public override Memory<byte> GetMemory(int sizeHint = 0) => _memory = inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

        public override void Advance(int bytes)
        {
            if ((uint)bytes > (uint)_memory.Length) throw new ArgumentOutOfRangeException(nameof(bytes), "advanced past the memory handed out");
            cipher.Xor(_memory.Span[..bytes]);
            _memory = _memory[bytes..];
            inner.Advance(bytes);
        }

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);

        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;

        public override long UnflushedBytes => inner.UnflushedBytes;
    }

    private sealed class DecryptingReader(PipeReader inner, XSalsa20 cipher) : PipeReader
    {
        private ReadOnlySequence<byte> _last;
        private long _decrypted; // bytes at the start of the unconsumed buffer that are plaintext already

        public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default) =>
            Decrypt(await inner.ReadAsync(cancellationToken).ConfigureAwait(false));

        public override bool TryRead(out ReadResult result)
        {
            if (!inner.TryRead(out result)) return false;
            result = Decrypt(result);
            return true;
        }

        private ReadResult Decrypt(ReadResult result)
        {
            var buffer = result.Buffer;
            if (buffer.Length > _decrypted)
            {
                foreach (var segment in buffer.Slice(_decrypted))
                {
                    // The pipe's own memory: unconsumed bytes stay where they are until advanced past.
                    var span = MemoryMarshal.AsMemory(segment).Span;
                    cipher.Xor(span);
                }
                _decrypted = buffer.Length;
            }
            _last = buffer;
            return result;
        }

        public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

        public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
        {
            _decrypted -= _last.Slice(_last.Start, consumed).Length;
            _last = default;
            inner.AdvanceTo(consumed, examined);
        }

        public override void CancelPendingRead() => inner.CancelPendingRead();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);

        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);
    }
}
