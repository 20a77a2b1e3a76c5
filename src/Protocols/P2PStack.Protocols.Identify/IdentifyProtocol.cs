using Google.Protobuf;
using P2PStack.IO;
using P2PStack.Protocols.Identify.Pb;
using System.IO.Pipelines;

namespace P2PStack.Protocols.Identify;

/// <summary>Wire logic of identify: one or more length-prefixed <c>Identify</c> messages, merged, until the stream ends.</summary>
public static class IdentifyProtocol
{
    public const string Id = "/ipfs/id/1.0.0";

    public const string PushId = "/ipfs/id/push/1.0.0";

    /// <summary>go-libp2p may split a large identify answer over several messages; more than this is refused.</summary>
    public const int MaxMessages = 10;

    public static async ValueTask WriteAsync(PipeWriter writer, Pb.Identify message, CancellationToken cancellationToken)
    {
        LengthPrefixed.WriteMessage(writer, message);
        await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        await writer.CompleteAsync().ConfigureAwait(false);
    }

    /// <summary>Reads messages until the remote closes its side, merging them into one.</summary>
    /// <exception cref="IdentifyException">Malformed, oversized or too many messages, or none at all.</exception>
    public static async ValueTask<Pb.Identify> ReadAsync(PipeReader reader, int maxMessageSize, CancellationToken cancellationToken)
    {
        var merged = new Pb.Identify();
        int count = 0;
        while (true)
        {
            PooledMessage? message;
            try
            {
                message = await LengthPrefixed.ReadMessageOrEndAsync(reader, maxMessageSize, cancellationToken).ConfigureAwait(false);
            }
            catch (LengthPrefixException ex)
            {
                throw new IdentifyException($"identify message refused: {ex.Message}", ex);
            }
            catch (EndOfStreamException ex)
            {
                throw new IdentifyException("identify stream ended inside a message", ex);
            }
            if (message is null) break;
            using (message)
            {
                if (++count > MaxMessages) throw new IdentifyException($"more than {MaxMessages} identify messages");
                try
                {
                    merged.MergeFrom(message.Span);
                }
                catch (InvalidProtocolBufferException ex)
                {
                    throw new IdentifyException($"malformed identify message: {ex.Message}", ex);
                }
            }
        }
        if (count == 0) throw new IdentifyException("the peer sent no identify message");
        return merged;
    }
}

/// <summary>A peer sent an identify message we refuse.</summary>
public sealed class IdentifyException(string message, Exception? inner = null) : P2PFormatException(message, inner);
