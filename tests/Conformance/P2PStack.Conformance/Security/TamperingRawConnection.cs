using System.Buffers.Binary;
using System.IO.Pipelines;
using P2PStack.Addressing;
using P2PStack.Network;

namespace P2PStack.Conformance.Security;

/// <summary>
/// Wraps a raw connection and flips one bit of what it sends: byte <c>offset</c> of the <c>frameIndex</c>-th
/// frame this side writes, frames being 2-byte big-endian length prefixed (libp2p Noise framing). A negative
/// offset counts from the end of the frame.
/// </summary>
public sealed class TamperingRawConnection(IRawConnection inner, int frameIndex, int offset) : IRawConnection
{
    private readonly TamperingWriter _output = new(inner.Output, frameIndex, offset);

    public PipeReader Input => inner.Input;

    public PipeWriter Output => _output;

    public Multiaddr LocalAddress => inner.LocalAddress;

    public Multiaddr RemoteAddress => inner.RemoteAddress;

    public Direction Direction => inner.Direction;

    /// <summary>True once the bit was flipped.</summary>
    public bool Tampered => _output.Tampered;

    public void Abort() => inner.Abort();

    public ValueTask DisposeAsync() => inner.DisposeAsync();

    private sealed class TamperingWriter(PipeWriter inner, int targetFrame, int targetOffset) : PipeWriter
    {
        private Memory<byte> _lastMemory;
        private int _frame;
        private int _headerBytes;
        private readonly byte[] _header = new byte[2];
        private int _frameLength;
        private int _frameOffset;

        public bool Tampered { get; private set; }

        public override Memory<byte> GetMemory(int sizeHint = 0) => _lastMemory = inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

        public override void Advance(int bytes)
        {
            var span = _lastMemory.Span[..bytes];
            for (int i = 0; i < span.Length; i++)
            {
                if (_headerBytes < 2)
                {
                    _header[_headerBytes++] = span[i];
                    if (_headerBytes == 2)
                    {
                        _frameLength = BinaryPrimitives.ReadUInt16BigEndian(_header);
                        _frameOffset = 0;
                        if (_frameLength == 0)
                        {
                            NextFrame();
                        }
                    }

                    continue;
                }

                int target = targetOffset >= 0 ? targetOffset : _frameLength + targetOffset;
                if (_frame == targetFrame && _frameOffset == target)
                {
                    span[i] ^= 0x01;
                    Tampered = true;
                }

                if (++_frameOffset == _frameLength)
                {
                    NextFrame();
                }
            }

            inner.Advance(bytes);
        }

        private void NextFrame()
        {
            _frame++;
            _headerBytes = 0;
        }

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) =>
            inner.FlushAsync(cancellationToken);

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);
    }
}
