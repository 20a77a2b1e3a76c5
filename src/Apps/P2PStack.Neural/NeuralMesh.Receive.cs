using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Neural.Messages;

namespace P2PStack.Neural;

public sealed partial class NeuralMesh
{
    /// <summary>A frame read from a /synaptic/neural/1.0.0 stream of <paramref name="from"/>.</summary>
    /// <param name="localAs">The identity this node goes by on the stream's connection when it is not the node's own (a
    /// shadow address's): a message to it is delivered here; nothing from such a connection is forwarded.</param>
    /// <param name="block">The address block of that connection, which its replay-cache entries are charged to.</param>
    internal async ValueTask ReceiveFrameAsync(ReadOnlyMemory<byte> encoded, PeerId from, AddressBlock block, CancellationToken cancellationToken,
        PeerId? localAs = null)
    {
        NeuralFrame frame;
        try
        {
            frame = NeuralMessageCodec.DecodeFrame(encoded.Span);
        }
        catch (NeuralFormatException e)
        {
            Drop(MessageType.Unspecified, DropReason.Malformed, from, e.Message);
            return;
        }
        await ReceiveEnvelopeAsync(frame.Envelope.Memory, (int)Math.Min(frame.Hops, int.MaxValue), from, block, wait: true, cancellationToken, localAs)
            .ConfigureAwait(false);
    }

    /// <summary>Verifies, checks replays, then delivers here or forwards. Stream readers <paramref name="wait"/> for room in the
    /// inbound queue (backpressure to the sender); local sends, which may come from a handler on the dispatch loop, do not.
    /// The replay-cache entry is reserved first and kept only when the message was delivered or forwarded.</summary>
    /// <returns>False when the message was dropped.</returns>
    /// <param name="block">The address block the message arrived from; null for this node's own messages.</param>
    private async ValueTask<bool> ReceiveEnvelopeAsync(ReadOnlyMemory<byte> envelope, int hops, PeerId from, AddressBlock? block, bool wait,
        CancellationToken cancellationToken, PeerId? localAs = null)
    {
        var now = Now;
        var result = NeuralMessageCodec.Verify(envelope.Span, hops, now, Options);
        if (result.Message is not { } message)
        {
            Drop(result.Type, result.Reason, from, result.Detail);
            return false;
        }
        if (message.Destination.Kind == DestinationKind.Swarm)
        {
            Drop(message.TypeInfo.Type, DropReason.Malformed, from, "swarm messages travel over gossipsub only");
            return false;
        }
        if (_replay.TryReserve(message.Source, message.Id, block, message.CreatedAt, message.ExpiresAt, now) is { } refused)
        {
            Drop(message.TypeInfo.Type, refused, from, $"message {message.Id}");
            return false;
        }
        bool routed = false;
        try
        {
            if (IsForThisNode(message) || (localAs is not null && message.Destination.Kind == DestinationKind.Peer && message.Destination.Peer == localAs))
            {
                if (Unseal(message, out string? sealError) is not { } opened)
                {
                    Drop(message.TypeInfo.Type, DropReason.BadSeal, from, sealError);
                    return false;
                }
                routed = await DeliverAsync(new Delivery(opened, now, from), wait, cancellationToken).ConfigureAwait(false);
            }
            else if (localAs is not null)
            {
                // Forwarding would tie this identity to the node's own connections.
                Drop(message.TypeInfo.Type, DropReason.Unroutable, from, $"{message.Destination} is not this identity ({localAs})");
            }
            else
            {
                routed = await ForwardAsync(message, from).ConfigureAwait(false);
            }
            return routed;
        }
        finally
        {
            if (routed) _replay.Commit(message.Source, message.Id);
            else _replay.Release(message.Source, message.Id);
        }
    }

    /// <summary>Queues a message for the dispatch loop. Its envelope and what decoded from it are reserved in the
    /// mesh's resource scope until the loop is done with it; refused, the message is dropped.</summary>
    private async ValueTask<bool> DeliverAsync(Delivery delivery, bool wait, CancellationToken cancellationToken)
    {
        if (Memory is { } memory && !memory.TryReserveMemory(delivery.Size, Options.InboundReservationPriority))
        {
            Drop(delivery.Message.TypeInfo.Type, DropReason.ResourceLimit, delivery.From,
                $"{memory.Name} has no memory for {delivery.Size} bytes");
            return false;
        }
        bool queued = false;
        try
        {
            if (wait)
            {
                await _inbound.Writer.WriteAsync(delivery, cancellationToken).ConfigureAwait(false);
                queued = true;
                return true;
            }
            queued = _inbound.Writer.TryWrite(delivery);
            if (!queued) Drop(delivery.Message.TypeInfo.Type, DropReason.QueueFull, delivery.From, "the inbound queue is full");
            return queued;
        }
        finally
        {
            if (!queued) Memory?.ReleaseMemory(delivery.Size);
        }
    }

    private bool IsForThisNode(VerifiedMessage message) => message.Destination.Kind switch
    {
        DestinationKind.Peer => message.Destination.Peer == LocalPeer,
        DestinationKind.Agent => IsLocalAgent(message.Destination.Name!)
            // A response to a command sent from here is ours even if its agent has gone meanwhile.
            || (message.TypeInfo.Type == MessageType.Response && message.Message.CorrelationId.Length == NeuralProtocol.MessageIdLength
                && _pending.ContainsKey(NeuralMessageId.FromBytes(message.Message.CorrelationId.Span).Value)),
        _ => false,
    };

    // Forwarding only ever goes over an existing connection to a peer known from the cache: a sender cannot make this
    // node dial or look up on its behalf.
    private async ValueTask<bool> ForwardAsync(VerifiedMessage message, PeerId from)
    {
        var type = message.TypeInfo.Type;
        if (!Options.EnableForwarding)
        {
            Drop(type, DropReason.Unroutable, from, "not for this node and forwarding is off");
            return false;
        }
        if (message.Hops + 1 > message.Message.HopLimit)
        {
            Drop(type, DropReason.HopLimit, from, $"forwarding would exceed the hop limit of {message.Message.HopLimit}");
            return false;
        }
        var next = message.Destination.Kind == DestinationKind.Peer ? message.Destination.Peer : CachedAgentPeer(message.Destination.Name!);
        if (next is null || next == LocalPeer || next == from || next == message.Source || _host.GetConnections(next).Count == 0)
        {
            Drop(type, DropReason.Unroutable, from, $"no connected next hop for {message.Destination}");
            return false;
        }
        var item = new OutboundItem(NeuralMessageCodec.EncodeFrame(message.Envelope, message.Hops + 1), type, (int)message.Message.Priority,
            message.ExpiresAt, existingConnectionOnly: true);
        if (await TryEnqueueAsync(next, item).ConfigureAwait(false) is { } refused)
        {
            Drop(type, refused.Reason, from, refused.Detail);
            return false;
        }
        Metrics.Forwarded(type);
        return true;
    }

    /// <summary>Queues without waiting (for messages sent on somebody else's behalf); the reason when it was not queued
    /// (the queue is full, or the resource manager refused its memory).</summary>
    private async ValueTask<(DropReason Reason, string Detail)?> TryEnqueueAsync(PeerId peer, OutboundItem item)
    {
        var queue = AcquireQueue(peer);
        try
        {
            return await queue.EnqueueAsync(item, wait: false, CancellationToken.None).ConfigureAwait(false)
                ? null
                : (DropReason.QueueFull, $"send queue to {peer} is full");
        }
        catch (ResourceLimitExceededException e)
        {
            return (DropReason.ResourceLimit, e.Message);
        }
        finally
        {
            ReleaseQueue(queue);
        }
    }

    internal void RecordStreamError(PeerId from, DropReason reason, string detail) => Drop(MessageType.Unspecified, reason, from, detail);

    internal void RecordIdleStream(PeerId from) => LogIdleStream(from, Options.StreamIdleTimeout);

    private void Drop(MessageType type, DropReason reason, PeerId? from, string? detail)
    {
        Metrics.Dropped(type, reason);
        LogDropped(NeuralMessageTypes.NameOf(type), from, reason.Label(), detail);
    }
}
