using System.Diagnostics;
using P2PStack.Identity;
using P2PStack.IO;
using P2PStack.Network;
using P2PStack.Neural.Messages;
using AckStatus = P2PStack.Neural.Messages.NeuralAck.Types.Status;

namespace P2PStack.Neural;

/// <summary>Reliable delivery (docs/specs/neural.md, "Reliable delivery"): one stream per attempt on
/// <c>/synaptic/neural/reliable/1.0.0</c>, an ack written once the receiver accepted the message (before its listeners
/// run), retries with exponential backoff until acknowledged or the give-up time passes, dedupe by the replay guard.</summary>
public sealed partial class NeuralMesh
{
    // Frame overhead around the envelope: two field tags, a length varint and the hop count.
    internal const int FrameOverhead = 16;
    private int _pendingReliable;

    private PostedMessage PostReliably(PeerId peer, NeuralMessage message, byte[] envelope, CancellationToken cancellationToken)
    {
        var id = NeuralMessageId.FromBytes(message.Id.Span);
        if (Interlocked.Increment(ref _pendingReliable) > Options.MaxPendingReliable)
        {
            Interlocked.Decrement(ref _pendingReliable);
            throw new ResourceLimitExceededException("neural mesh", "pending reliable messages", Options.MaxPendingReliable);
        }
        var delivery = DeliverReliablyAsync(peer, id, message, envelope, cancellationToken);
        return new PostedMessage(id, peer, delivery) { Delivery = delivery };
    }

    private async Task<DeliveryReport> DeliverReliablyAsync(PeerId peer, NeuralMessageId id, NeuralMessage message, byte[] envelope,
        CancellationToken cancellationToken)
    {
        await Task.Yield(); // the caller gets its PostedMessage before the first attempt runs
        var started = Stopwatch.StartNew();
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _lifetime.Token);
        var token = linked.Token;
        int attempts = 0;
        string? lastError = null;
        var backoff = Options.ReliableInitialBackoff;
        try
        {
            if (peer == LocalPeer)
            {
                attempts = 1;
                bool accepted = await ReceiveEnvelopeAsync(envelope, 0, LocalPeer, block: null, wait: false, token).ConfigureAwait(false);
                return Report(accepted ? DeliveryStatus.Delivered : DeliveryStatus.Refused, accepted ? null : "dropped locally (see the drop counters)");
            }
            byte[] frame = NeuralMessageCodec.EncodeFrame(envelope, 0);
            while (true)
            {
                attempts++;
                Metrics.ReliableAttempt();
                try
                {
                    var ack = await AttemptAsync(peer, frame, token).ConfigureAwait(false);
                    var (outcome, error) = NeuralAcks.Judge(ack, message.Id.Span, peer);
                    if (outcome == DeliveryStatus.Delivered)
                    {
                        Metrics.Sent(message.Type);
                        return Report(DeliveryStatus.Delivered, null);
                    }
                    if (outcome is { } refused) return Report(refused, error);
                    lastError = error;
                }
                catch (OperationCanceledException) when (token.IsCancellationRequested)
                {
                    return Report(DeliveryStatus.Failed, _lifetime.IsCancellationRequested ? "the neural mesh shut down" : "cancelled");
                }
                catch (Exception e) when (e is not OperationCanceledException || !token.IsCancellationRequested)
                {
                    lastError = e is OperationCanceledException
                        ? $"no ack within {Options.ReliableAttemptTimeout.TotalSeconds:0.###} s"
                        : e.Message;
                }
                var wait = Jitter(backoff);
                if (started.Elapsed + wait >= Options.ReliableGiveUpAfter) return Report(DeliveryStatus.Failed, lastError);
                try
                {
                    await Task.Delay(wait, _time, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return Report(DeliveryStatus.Failed, _lifetime.IsCancellationRequested ? "the neural mesh shut down" : "cancelled");
                }
                backoff = backoff * 2 < Options.ReliableMaxBackoff ? backoff * 2 : Options.ReliableMaxBackoff;
            }
        }
        finally
        {
            Interlocked.Decrement(ref _pendingReliable);
        }

        DeliveryReport Report(DeliveryStatus status, string? error)
        {
            Metrics.ReliableOutcome(status, attempts);
            if (status != DeliveryStatus.Delivered) LogSendFailed(peer, $"reliable message {id} {status.ToString().ToLowerInvariant()} after {attempts} attempt(s): {error}");
            return new DeliveryReport(id, peer, status, attempts, started.Elapsed, error);
        }
    }

    private static TimeSpan Jitter(TimeSpan backoff) => backoff * (1 + (0.2 * Random.Shared.NextDouble()));

    private async Task<NeuralAck> AttemptAsync(PeerId peer, byte[] frame, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Options.ReliableAttemptTimeout);
        var stream = await OpenStreamAsync(peer, NeuralProtocol.ReliableProtocolId, existingConnectionOnly: false, timeout.Token).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            try
            {
                LengthPrefixed.WriteMessage(stream.Output, frame);
                var flush = await stream.Output.FlushAsync(timeout.Token).ConfigureAwait(false);
                if (flush.IsCompleted) throw new IOException($"the reliable stream to {peer} was closed");
                await stream.Output.CompleteAsync().ConfigureAwait(false);
                return await NeuralAcks.ReadAsync(stream.Input, timeout.Token).ConfigureAwait(false);
            }
            catch
            {
                stream.Reset();
                throw;
            }
        }
    }

    /// <summary>The receiving side: checks the frame of a reliable stream and answers with an ack.</summary>
    internal async ValueTask<NeuralAck> ReceiveReliableAsync(ReadOnlyMemory<byte> encoded, PeerId from, AddressBlock block,
        CancellationToken cancellationToken)
    {
        NeuralFrame frame;
        try
        {
            frame = NeuralMessageCodec.DecodeFrame(encoded.Span);
        }
        catch (NeuralFormatException e)
        {
            Drop(MessageType.Unspecified, DropReason.Malformed, from, e.Message);
            return Ack(default, AckStatus.Refused, DropReason.Malformed.Label());
        }
        var now = Now;
        var result = NeuralMessageCodec.Verify(frame.Envelope.Span, 0, now, Options);
        if (result.Message is not { } message)
        {
            Drop(result.Type, result.Reason, from, result.Detail);
            return Ack(default, AckStatus.Refused, result.Reason.Label());
        }
        var id = message.Message.Id.Memory;
        if (message.Destination.Kind == DestinationKind.Swarm)
        {
            Drop(message.TypeInfo.Type, DropReason.Malformed, from, "swarm messages travel over gossipsub only");
            return Ack(id, AckStatus.Refused, DropReason.Malformed.Label());
        }
        if (!IsForThisNode(message))
        {
            Drop(message.TypeInfo.Type, DropReason.Unroutable, from, "a reliable message must be sent to its destination peer");
            return Ack(id, AckStatus.Refused, DropReason.Unroutable.Label());
        }
        switch (_replay.TryReserve(message.Source, message.Id, block, message.CreatedAt, message.ExpiresAt, now))
        {
            case DropReason.Replay:
                Metrics.ReliableDuplicate();
                return Ack(id, AckStatus.Duplicate, "");
            case DropReason.TooOld:
                // The watermark only rises: the same envelope, sent again, cannot get in.
                Drop(message.TypeInfo.Type, DropReason.TooOld, from, $"message {message.Id}");
                return Ack(id, AckStatus.Refused, DropReason.TooOld.Label());
            case { } full:
                Drop(message.TypeInfo.Type, full, from, $"message {message.Id}");
                return Ack(id, AckStatus.Busy, full.Label());
        }
        bool accepted = false;
        try
        {
            if (Unseal(message, out string? sealError) is not { } opened)
            {
                Drop(message.TypeInfo.Type, DropReason.BadSeal, from, sealError);
                return Ack(id, AckStatus.Refused, DropReason.BadSeal.Label());
            }
            // Accepted: queued for the dispatch loop, which runs listeners and handlers after this ack is written.
            accepted = await DeliverAsync(new Delivery(opened, now, from), wait: true, cancellationToken).ConfigureAwait(false);
            return Ack(id, AckStatus.Delivered, "");
        }
        finally
        {
            if (accepted) _replay.Commit(message.Source, message.Id);
            else _replay.Release(message.Source, message.Id);
        }
    }

    private static NeuralAck Ack(ReadOnlyMemory<byte> id, AckStatus status, string detail) =>
        new() { Id = Google.Protobuf.UnsafeByteOperations.UnsafeWrap(id), Status = status, Detail = detail };
}
