using System.Buffers;
using System.IO.Pipelines;
using P2PStack.Network;
using P2PStack.Testing;

namespace P2PStack.Security.Noise.Tests;

/// <summary>Writes what it is given to the inner writer in small pieces, so the reader sees frames split across segments.</summary>
internal sealed class SegmentingRawConnection(IRawConnection inner, int pieceSize) : DelegatingRawConnection(inner)
{
    private readonly SegmentingWriter _output = new(inner.Output, pieceSize);

    public override PipeWriter Output => _output;

    /// <summary>Every byte written, in order (the wire as the remote sees it).</summary>
    public byte[] Written => _output.Log.WrittenSpan.ToArray();

    private sealed class SegmentingWriter(PipeWriter inner, int pieceSize) : DelegatingPipeWriter(inner)
    {
        private readonly ArrayBufferWriter<byte> _pending = new();

        public ArrayBufferWriter<byte> Log { get; } = new();

        public override Memory<byte> GetMemory(int sizeHint = 0) => _pending.GetMemory(Math.Max(sizeHint, 1));

        public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

        public override void Advance(int bytes)
        {
            _pending.Advance(bytes);
            var data = _pending.WrittenSpan;
            Log.Write(data);
            for (int offset = 0; offset < data.Length; offset += pieceSize)
            {
                var piece = data.Slice(offset, Math.Min(pieceSize, data.Length - offset));
                piece.CopyTo(Inner.GetSpan(piece.Length));
                Inner.Advance(piece.Length);
            }

            _pending.ResetWrittenCount();
        }
    }
}
