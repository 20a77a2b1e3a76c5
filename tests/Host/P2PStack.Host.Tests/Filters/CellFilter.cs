using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using P2PStack.Network;

namespace P2PStack.Host.Tests.Filters;

/// <summary>
/// A test secured-connection filter in the shape traffic padding takes: everything the muxer writes travels in
/// fixed-size cells (a 2-byte payload length, the payload, zero padding), and every flush is followed by one empty
/// padding cell that the receiver drops. Small cells stress the framing: muxer frames straddle many cells.
/// </summary>
public sealed class CellFilter : ISecuredConnectionFilter
{
    public const string Id = "/test/cells/1.0.0";

    /// <summary>Bytes on the wire per cell, header included.</summary>
    public const int CellSize = 64;

    private const int HeaderSize = 2;
    private const int MaxPayload = CellSize - HeaderSize;

    public string ProtocolId => Id;

    public IFilteredPipe Apply(IDuplexPipe connection, Direction direction) => new Cells(connection);

    private sealed class Cells : IFilteredPipe
    {
        private readonly IDuplexPipe _inner;
        private readonly Pipe _fromApp = new();
        private readonly Pipe _toApp = new();
        private readonly Task _sending;
        private readonly Task _receiving;

        public Cells(IDuplexPipe inner)
        {
            _inner = inner;
            _sending = SendAsync();
            _receiving = ReceiveAsync();
        }

        public PipeReader Input => _toApp.Reader;

        public PipeWriter Output => _fromApp.Writer;

        private async Task SendAsync()
        {
            Exception? error = null;
            try
            {
                while (true)
                {
                    var result = await _fromApp.Reader.ReadAsync();
                    var buffer = result.Buffer;
                    while (!buffer.IsEmpty)
                    {
                        int take = (int)Math.Min(MaxPayload, buffer.Length);
                        WriteCell(buffer.Slice(0, take));
                        buffer = buffer.Slice(take);
                    }
                    _fromApp.Reader.AdvanceTo(result.Buffer.End);
                    if (!result.Buffer.IsEmpty) WriteCell(ReadOnlySequence<byte>.Empty); // padding
                    var flush = await _inner.Output.FlushAsync();
                    if (flush.IsCompleted) throw new IOException("the connection under the cell filter is closed");
                    if (result.IsCompleted) break;
                }
            }
            catch (Exception ex)
            {
                error = ex;
            }
            await _fromApp.Reader.CompleteAsync(error);
            await _inner.Output.CompleteAsync(error);
        }

        private void WriteCell(ReadOnlySequence<byte> payload)
        {
            var cell = _inner.Output.GetSpan(CellSize)[..CellSize];
            BinaryPrimitives.WriteUInt16BigEndian(cell, (ushort)payload.Length);
            payload.CopyTo(cell[HeaderSize..]);
            cell[(HeaderSize + (int)payload.Length)..].Clear();
            _inner.Output.Advance(CellSize);
        }

        private async Task ReceiveAsync()
        {
            Exception? error = null;
            try
            {
                while (true)
                {
                    var result = await _inner.Input.ReadAsync();
                    var buffer = result.Buffer;
                    while (buffer.Length >= CellSize)
                    {
                        var cell = buffer.Slice(0, CellSize);
                        int length = PayloadLength(cell);
                        if (length > MaxPayload) throw new InvalidDataException($"cell announces {length} bytes, more than {MaxPayload}");
                        foreach (var segment in cell.Slice(HeaderSize, length)) _toApp.Writer.Write(segment.Span);
                        buffer = buffer.Slice(CellSize);
                    }
                    _inner.Input.AdvanceTo(buffer.Start, buffer.End);
                    var flush = await _toApp.Writer.FlushAsync();
                    if (flush.IsCompleted) break; // the muxer stopped reading
                    if (result.IsCompleted)
                    {
                        if (!buffer.IsEmpty) throw new EndOfStreamException("the connection ended inside a cell");
                        break;
                    }
                }
            }
            catch (Exception ex)
            {
                error = ex;
            }
            await _inner.Input.CompleteAsync(error);
            await _toApp.Writer.CompleteAsync(error);
        }

        private static int PayloadLength(ReadOnlySequence<byte> cell)
        {
            Span<byte> header = stackalloc byte[HeaderSize];
            cell.Slice(0, HeaderSize).CopyTo(header);
            return BinaryPrimitives.ReadUInt16BigEndian(header);
        }

        public async ValueTask DisposeAsync()
        {
            // The owner is done with the filtered pipe: end both pumps, then let them finish.
            await _fromApp.Writer.CompleteAsync();
            await _toApp.Reader.CompleteAsync();
            _inner.Input.CancelPendingRead();
            await Task.WhenAll(_sending, _receiving);
        }
    }
}
