using System.Buffers;
using System.IO.Pipelines;
using P2PStack.IO;
using P2PStack.Network;

namespace P2PStack.Conformance.Muxer;

/// <summary>Limits a conformance test asks the muxer under test to apply.</summary>
public sealed record MuxerTestLimits(int MaxInboundStreams = 1000, int MaxOutboundStreams = 1000);

/// <summary>Two connected muxer sessions and the raw connection each runs over.</summary>
public sealed class MuxerPair(IMuxerSession initiator, IMuxerSession responder, Func<ValueTask>? cut) : IAsyncDisposable
{
    public IMuxerSession Initiator { get; } = initiator;

    public IMuxerSession Responder { get; } = responder;

    /// <summary>Cuts the connection between the two sessions, as if the remote vanished: each side's input ends
    /// with an error and its output's reader is gone. Only for pairs created with <c>cuttable: true</c>.</summary>
    public ValueTask CutAsync() => cut?.Invoke() ?? throw new InvalidOperationException("pair is not cuttable");

    public async ValueTask DisposeAsync()
    {
        await Initiator.DisposeAsync();
        await Responder.DisposeAsync();
        if (cut is not null)
        {
            await cut();
        }
    }
}

/// <summary>Byte helpers over pipes for the suites.</summary>
public static class PipeTestExtensions
{
    public static async Task WriteAllAsync(this PipeWriter writer, ReadOnlyMemory<byte> data, int chunk = 64 * 1024,
        CancellationToken cancellationToken = default)
    {
        while (!data.IsEmpty)
        {
            int length = Math.Min(chunk, data.Length);
            await writer.WriteAsync(data[..length], cancellationToken);
            data = data[length..];
        }
    }

    public static async Task<byte[]> ReadToEndAsync(this PipeReader reader, CancellationToken cancellationToken = default)
    {
        var collected = new MemoryStream();
        while (true)
        {
            var result = await reader.ReadAsync(cancellationToken);
            foreach (var segment in result.Buffer)
            {
                collected.Write(segment.Span);
            }

            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                return collected.ToArray();
            }
        }
    }

    public static async Task<byte[]> ReadExactlyAsync(this PipeReader reader, int count, CancellationToken cancellationToken = default)
    {
        var result = await reader.ReadAtLeastAsync(count, cancellationToken);
        if (result.Buffer.Length < count)
        {
            throw new EndOfStreamException($"stream ended after {result.Buffer.Length} of {count} bytes");
        }

        byte[] bytes = result.Buffer.Slice(0, count).ToArray();
        reader.AdvanceTo(result.Buffer.GetPosition(count));
        return bytes;
    }

    /// <summary>Echoes everything read until the remote half-closes, then half-closes.</summary>
    public static async Task EchoAsync(this IDuplexPipe stream, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var result = await stream.Input.ReadAsync(cancellationToken);
            foreach (var segment in result.Buffer)
            {
                await stream.Output.WriteAsync(segment, cancellationToken);
            }

            stream.Input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted)
            {
                break;
            }
        }

        await stream.Output.CompleteAsync();
    }

    /// <summary>Builds a connection whose two ends are joined by pumps the test can cut.</summary>
    public static (IDuplexPipe A, IDuplexPipe B, Func<ValueTask> Cut) CreateCuttableConnection()
    {
        var (a, linkA) = DuplexPipe.CreatePair();
        var (b, linkB) = DuplexPipe.CreatePair();
        var pumpAtoB = PumpAsync(linkA.Input, linkB.Output);
        var pumpBtoA = PumpAsync(linkB.Input, linkA.Output);
        int cut = 0;
        return (a, b, async () =>
        {
            if (Interlocked.Exchange(ref cut, 1) == 1)
            {
                return;
            }

            linkA.Input.CancelPendingRead();
            linkB.Input.CancelPendingRead();
            linkA.Output.CancelPendingFlush();
            linkB.Output.CancelPendingFlush();
            await Task.WhenAll(pumpAtoB, pumpBtoA);
        });

        static async Task PumpAsync(PipeReader from, PipeWriter to)
        {
            Exception? error = new IOException("connection cut: remote vanished");
            try
            {
                while (true)
                {
                    var result = await from.ReadAsync();
                    if (result.IsCanceled)
                    {
                        break;
                    }

                    foreach (var segment in result.Buffer)
                    {
                        to.Write(segment.Span);
                    }

                    from.AdvanceTo(result.Buffer.End);
                    var flush = await to.FlushAsync();
                    if (flush.IsCanceled)
                    {
                        break;
                    }

                    if (result.IsCompleted || flush.IsCompleted)
                    {
                        error = null; // a side closed normally: pass the end on
                        break;
                    }
                }
            }
            catch (InvalidOperationException)
            {
                // a side completed its pipe while we pumped; the connection is cut either way
            }

            await from.CompleteAsync(error);
            await to.CompleteAsync(error);
        }
    }
}
