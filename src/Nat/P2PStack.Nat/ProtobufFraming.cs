using System.IO.Pipelines;
using Google.Protobuf;
using P2PStack.IO;

namespace P2PStack.Nat;

/// <summary>
/// Varint-length-prefixed protobuf messages on a stream, as AutoNAT, circuit relay and DCUtR frame them: a length over
/// the limit, bytes that are not the message, or an early end become the caller's typed exception.
/// </summary>
public static class ProtobufFraming
{
    /// <summary>Reads one message.</summary>
    /// <param name="error">Builds the protocol's typed exception from a reason.</param>
    public static async Task<T> ReadAsync<T>(PipeReader reader, MessageParser<T> parser, int maxSize, Func<string, Exception?, Exception> error,
        CancellationToken cancellationToken) where T : IMessage<T>
    {
        try
        {
            return await LengthPrefixed.ReadMessageAsync(reader, maxSize, sequence => parser.ParseFrom(sequence), cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw error($"{typeof(T).Name} is not valid protobuf: {ex.Message}", ex);
        }
        catch (P2PFormatException ex)
        {
            throw error($"{typeof(T).Name}: {ex.Message}", ex);
        }
        catch (EndOfStreamException ex)
        {
            throw error($"the stream ended before a whole {typeof(T).Name}", ex);
        }
    }

    /// <summary>Writes one message and flushes.</summary>
    public static async Task WriteAsync(PipeWriter writer, IMessage message, CancellationToken cancellationToken)
    {
        LengthPrefixed.WriteMessage(writer, message);
        var result = await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (result.IsCompleted) throw new IOException("the remote stopped reading the stream");
    }
}
