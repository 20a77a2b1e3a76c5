using System.Buffers.Binary;
using System.IO.Pipelines;
using P2PStack.Network;

namespace P2PStack.Conformance.Security;

/// <summary>
/// How a secure channel frames its bytes on the wire, so that a test can alter the n-th frame: a header of
/// <see cref="HeaderLength"/> bytes holding a 2-byte big-endian payload length at <see cref="LengthOffset"/>.
/// Frames whose first header byte is <see cref="SkippedType"/> are not counted (TLS ChangeCipherSpec records).
/// </summary>
public sealed record FrameLayout(int HeaderLength, int LengthOffset, int? SkippedType = null)
{
    /// <summary>libp2p Noise: a 2-byte length prefix.</summary>
    public static FrameLayout Noise { get; } = new(2, 0);

    /// <summary>TLS records: type, version, length; middlebox-compatibility ChangeCipherSpec records are skipped.</summary>
    public static FrameLayout TlsRecords { get; } = new(5, 3, SkippedType: 20);
}

/// <summary>
/// Wraps a raw connection and flips one bit of what it sends: byte <c>offset</c> of the payload of the
/// <c>frameIndex</c>-th frame this side writes, frames laid out as <see cref="FrameLayout"/> says (libp2p Noise
/// framing by default). A negative offset counts from the end of the frame.
/// </summary>
public sealed class TamperingRawConnection(IRawConnection inner, int frameIndex, int offset, FrameLayout? layout = null)
    : DelegatingRawConnection(inner)
{
    private readonly TamperingWriter _output = new(inner.Output, frameIndex, offset, layout ?? FrameLayout.Noise);

    public override PipeWriter Output => _output;

    /// <summary>True once the bit was flipped.</summary>
    public bool Tampered => _output.Tampered;

    private sealed class TamperingWriter(PipeWriter inner, int targetFrame, int targetOffset, FrameLayout layout) : PipeWriter
    {
        private Memory<byte> _lastMemory;
        private int _frame;
        private int _headerBytes;
        private readonly byte[] _header = new byte[layout.HeaderLength];
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
                if (_headerBytes < layout.HeaderLength)
                {
                    _header[_headerBytes++] = span[i];
                    if (_headerBytes == layout.HeaderLength)
                    {
                        _frameLength = BinaryPrimitives.ReadUInt16BigEndian(_header.AsSpan(layout.LengthOffset));
                        _frameOffset = 0;
                        if (_frameLength == 0)
                        {
                            NextFrame();
                        }
                    }

                    continue;
                }

                int target = targetOffset >= 0 ? targetOffset : _frameLength + targetOffset;
                bool counted = layout.SkippedType is not { } skipped || _header[0] != skipped;
                if (counted && _frame == targetFrame && _frameOffset == target)
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
            if (layout.SkippedType is not { } skipped || _header[0] != skipped) _frame++;
            _headerBytes = 0;
        }

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) =>
            inner.FlushAsync(cancellationToken);

        public override void CancelPendingFlush() => inner.CancelPendingFlush();

        public override void Complete(Exception? exception = null) => inner.Complete(exception);
    }
}
