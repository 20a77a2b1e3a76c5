using System.Buffers;
using System.IO.Pipelines;

namespace P2PStack.Protocols.Ping;

/// <summary>Wire logic of <c>/ipfs/ping/1.0.0</c>: 32-byte payloads echoed back, any number per stream.</summary>
public static class PingProtocol
{
    public const string Id = "/ipfs/ping/1.0.0";

    public const int PayloadSize = 32;

    /// <summary>Reads exactly one payload into <paramref name="destination"/>; false at a clean end of stream.</summary>
    /// <exception cref="InvalidDataException">The stream ended inside a payload.</exception>
    public static async ValueTask<bool> ReadPayloadAsync(PipeReader reader, Memory<byte> destination, CancellationToken cancellationToken)
    {
        while (true)
        {
            var result = await reader.ReadAtLeastAsync(PayloadSize, cancellationToken).ConfigureAwait(false);
            var buffer = result.Buffer;
            if (buffer.Length >= PayloadSize)
            {
                buffer.Slice(0, PayloadSize).CopyTo(destination.Span);
                reader.AdvanceTo(buffer.GetPosition(PayloadSize));
                return true;
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
            if (result.IsCompleted || result.IsCanceled)
            {
                if (buffer.IsEmpty) return false;
                throw new InvalidDataException($"ping stream ended after {buffer.Length} of {PayloadSize} payload bytes");
            }
        }
    }
}
