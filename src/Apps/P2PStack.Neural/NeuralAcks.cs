using System.Buffers;
using System.IO.Pipelines;
using P2PStack.IO;
using P2PStack.Neural.Messages;
using AckStatus = P2PStack.Neural.Messages.NeuralAck.Types.Status;

namespace P2PStack.Neural;

/// <summary>The sender's side of an acknowledgement (docs/specs/neural.md, "Reliable delivery"): reading the one
/// length-prefixed <see cref="NeuralAck"/> a receiver answers with, and what it means for the attempt.</summary>
internal static class NeuralAcks
{
    /// <summary>Largest ack read; a receiver's is a 16-byte id, a status and a short reason label.</summary>
    public const int MaxAckSize = 1024;

    /// <summary>Reads the ack off the stream.</summary>
    /// <exception cref="NeuralFormatException">Not a valid protobuf.</exception>
    /// <exception cref="LengthPrefixException">Longer than <see cref="MaxAckSize"/> or a broken prefix.</exception>
    /// <exception cref="EndOfStreamException">The stream ended before a whole ack.</exception>
    public static ValueTask<NeuralAck> ReadAsync(PipeReader input, CancellationToken cancellationToken) =>
        LengthPrefixed.ReadMessageAsync(input, MaxAckSize, Parse, cancellationToken);

    public static NeuralAck Parse(ReadOnlySequence<byte> bytes)
    {
        try
        {
            return NeuralAck.Parser.ParseFrom(bytes);
        }
        catch (Google.Protobuf.InvalidProtocolBufferException e)
        {
            throw new NeuralFormatException($"the ack is not a valid protobuf: {e.Message}", e);
        }
    }

    /// <summary>What an ack says about the message <paramref name="id"/>: delivered, refused (retrying cannot help), or
    /// neither (busy, another message's id, an unknown status: the attempt failed), with the error to report.</summary>
    public static (DeliveryStatus? Outcome, string? Error) Judge(NeuralAck ack, ReadOnlySpan<byte> id, Identity.PeerId peer)
    {
        // A receiver that could not read the message refuses it without naming it (one message per stream).
        if (!ack.Id.Span.SequenceEqual(id) && !(ack.Id.IsEmpty && ack.Status == AckStatus.Refused))
            return (null, "the ack names another message");
        if (ack.Status is AckStatus.Delivered or AckStatus.Duplicate) return (DeliveryStatus.Delivered, null);
        if (ack.Status == AckStatus.Refused) return (DeliveryStatus.Refused, $"refused by {peer}: {ack.Detail}");
        return (null, $"{peer} is busy: {ack.Detail}");
    }
}
