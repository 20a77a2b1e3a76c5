using System.IO.Pipelines;
using P2PStack.Network;

namespace P2PStack.Privacy.Onion.Tests;

/// <summary>
/// A malicious neighbour's double: wraps a relay's link stream and passes every cell through a function that may
/// change it or drop it (return false), in either direction. Cells are whole (the link carries nothing else).
/// </summary>
public sealed class TamperingStream : IStream
{
    private readonly IStream _inner;
    private readonly Pipe _in = new();
    private readonly Pipe _out = new();

    /// <param name="incoming">Applied to cells arriving from the neighbour (index counts cells in that direction).</param>
    /// <param name="outgoing">Applied to cells this relay sends to the neighbour.</param>
    public TamperingStream(IStream inner, int cellSize, Func<int, byte[], bool>? incoming, Func<int, byte[], bool>? outgoing)
    {
        _inner = inner;
        _ = PumpAsync(inner.Input, _in.Writer, cellSize, incoming);
        _ = PumpAsync(_out.Reader, inner.Output, cellSize, outgoing);
    }

    public PipeReader Input => _in.Reader;

    public PipeWriter Output => _out.Writer;

    public string Protocol => _inner.Protocol;

    public IConnection Connection => _inner.Connection;

    public Direction Direction => _inner.Direction;

    public void Reset()
    {
        _inner.Reset();
        _in.Writer.Complete(new IOException("reset"));
    }

    public async ValueTask DisposeAsync()
    {
        await _out.Writer.CompleteAsync();
        await _in.Reader.CompleteAsync();
        await _inner.DisposeAsync();
    }

    private static async Task PumpAsync(PipeReader from, PipeWriter to, int cellSize, Func<int, byte[], bool>? tamper)
    {
        int index = 0;
        var cell = new byte[cellSize];
        Exception? error = null;
        try
        {
            while (true)
            {
                var result = await from.ReadAsync();
                var buffer = result.Buffer;
                while (buffer.Length >= cellSize)
                {
                    System.Buffers.BuffersExtensions.CopyTo(buffer.Slice(0, cellSize), cell);
                    buffer = buffer.Slice(cellSize);
                    if (tamper is null || tamper(index++, cell)) await to.WriteAsync(cell);
                }
                from.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted) break;
            }
        }
        catch (Exception e)
        {
            error = e;
        }
        await from.CompleteAsync(error);
        await to.CompleteAsync(error);
    }
}
