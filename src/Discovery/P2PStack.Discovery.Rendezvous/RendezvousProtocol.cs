using System.Buffers;
using System.IO.Pipelines;
using Google.Protobuf;
using P2PStack.Discovery.Rendezvous.Pb;
using P2PStack.IO;

namespace P2PStack.Discovery.Rendezvous;

/// <summary>Constants and framing of <c>/rendezvous/1.0.0</c>: unsigned-varint length-prefixed <c>Message</c>s.</summary>
public static class RendezvousProtocol
{
    public const string Id = "/rendezvous/1.0.0";

    /// <summary>The spec's longest namespace.</summary>
    public const int MaxNamespaceLength = 255;

    /// <summary>Reads one message of at most <paramref name="maxSize"/> bytes, or null at a clean end of stream.</summary>
    /// <exception cref="RendezvousFormatException">Oversized or not a valid message.</exception>
    public static async ValueTask<Message?> ReadAsync(PipeReader reader, int maxSize, CancellationToken cancellationToken)
    {
        PooledMessage? frame;
        try
        {
            frame = await LengthPrefixed.ReadMessageOrEndAsync(reader, maxSize, cancellationToken).ConfigureAwait(false);
        }
        catch (LengthPrefixException e)
        {
            throw new RendezvousFormatException($"message refused: {e.Message}");
        }
        if (frame is null) return null;
        using (frame) return Parse(frame.Span);
    }

    /// <summary>Decodes a message.</summary>
    /// <exception cref="RendezvousFormatException">Not a valid protobuf message.</exception>
    public static Message Parse(ReadOnlySpan<byte> bytes)
    {
        try
        {
            return Message.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new RendezvousFormatException($"message is not a valid rendezvous protobuf: {e.Message}");
        }
    }

    /// <summary>Writes one length-prefixed message and flushes.</summary>
    public static async ValueTask WriteAsync(PipeWriter writer, Message message, CancellationToken cancellationToken)
    {
        LengthPrefixed.WriteMessage(writer, message);
        var flush = await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (flush.IsCompleted) throw new IOException("the rendezvous stream was closed by the remote");
    }

    /// <summary>Byte length of a namespace as the limits count it.</summary>
    public static int NamespaceLength(string ns) => System.Text.Encoding.UTF8.GetByteCount(ns);
}

/// <summary>A malformed rendezvous message from the network.</summary>
public sealed class RendezvousFormatException(string message) : P2PFormatException(message);

/// <summary>A rendezvous point answered with an error status.</summary>
public sealed class RendezvousException(Message.Types.ResponseStatus status, string statusText)
    : Exception($"rendezvous point refused: {status} {statusText}".TrimEnd())
{
    public Message.Types.ResponseStatus Status { get; } = status;

    public string StatusText { get; } = statusText;
}
