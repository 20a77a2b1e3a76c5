using Google.Protobuf;
using Microsoft.Extensions.DependencyInjection;
using P2PStack.Identity;
using P2PStack.Neural.Messages;

namespace P2PStack.Neural;

public sealed partial class NeuralMesh
{
    /// <summary>A frame read from a /synaptic/neural/1.0.0 stream of <paramref name="from"/>.</summary>
    internal async ValueTask ReceiveFrameAsync(ReadOnlyMemory<byte> encoded, PeerId from, CancellationToken cancellationToken)
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
        await ReceiveEnvelopeAsync(frame.Envelope.Memory, (int)Math.Min(frame.Hops, int.MaxValue), from, wait: true, cancellationToken)
            .ConfigureAwait(false);
    }

    /// <summary>Verifies, checks replays, then delivers here or forwards. Stream readers <paramref name="wait"/> for room in the
    /// inbound queue (backpressure to the sender); local sends, which may come from a handler on the dispatch loop, do not.</summary>
    /// <returns>False when the message was dropped.</returns>
    private async ValueTask<bool> ReceiveEnvelopeAsync(ReadOnlyMemory<byte> envelope, int hops, PeerId from, bool wait,
        CancellationToken cancellationToken)
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
        if (_replay.TryAccept(message.Source, message.Id, message.ExpiresAt, now) is { } replay)
        {
            Drop(message.TypeInfo.Type, replay, from, $"message {message.Id}");
            return false;
        }
        if (!IsForThisNode(message)) return await ForwardAsync(message, from).ConfigureAwait(false);
        if (Unseal(message, out string? sealError) is not { } opened)
        {
            Drop(message.TypeInfo.Type, DropReason.BadSeal, from, sealError);
            return false;
        }
        message = opened;
        var delivery = new Delivery(message, now);
        if (wait)
        {
            await _inbound.Writer.WriteAsync(delivery, cancellationToken).ConfigureAwait(false);
            return true;
        }
        if (_inbound.Writer.TryWrite(delivery)) return true;
        Drop(message.TypeInfo.Type, DropReason.QueueFull, from, "the inbound queue is full");
        return false;
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

    // Forwarding only ever goes to an already connected peer known from the cache: a sender cannot make this node
    // dial or look up on its behalf.
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
            message.ExpiresAt);
        var queue = AcquireQueue(next);
        try
        {
            if (!await queue.EnqueueAsync(item, wait: false, CancellationToken.None).ConfigureAwait(false))
            {
                Drop(type, DropReason.QueueFull, from, $"send queue to {next} is full");
                return false;
            }
        }
        finally
        {
            ReleaseQueue(queue);
        }
        Metrics.Forwarded(type);
        return true;
    }

    internal void RecordStreamError(PeerId from, DropReason reason, string detail) => Drop(MessageType.Unspecified, reason, from, detail);

    private void Drop(MessageType type, DropReason reason, PeerId? from, string? detail)
    {
        Metrics.Dropped(type, reason);
        LogDropped(NeuralMessageTypes.NameOf(type), from, reason.Label(), detail);
    }

    private async Task DispatchLoopAsync()
    {
        var token = _lifetime.Token;
        try
        {
            await foreach (var delivery in _inbound.Reader.ReadAllAsync(token).ConfigureAwait(false))
            {
                var message = delivery.Message;
                if (Now >= message.ExpiresAt)
                {
                    Drop(message.TypeInfo.Type, DropReason.Expired, message.Source, "expired while waiting for the handlers");
                    continue;
                }
                var received = new ReceivedMessage(message, delivery.ReceivedAt);
                Metrics.Received(message.TypeInfo.Type, delivery.ReceivedAt - message.CreatedAt);
                if (message.TypeInfo.Type == MessageType.Response) CompleteCommand(received);
                NotifyListeners(received);
                await InvokeHandlersAsync(received, token).ConfigureAwait(false);
                if (message.TypeInfo.Type == MessageType.Command)
                {
                    await _commandSlots.WaitAsync(token).ConfigureAwait(false);
                    _ = AnswerCommandAsync(received.As<Command>(), token);
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
    }

    private void CompleteCommand(ReceivedMessage response)
    {
        if (response.CorrelationId is not { } id || !_pending.TryGetValue(id.Value, out var pending)) return;
        // Only the peer the command went to may answer it.
        if (pending.ExpectedPeer != response.SourcePeer) return;
        pending.Completion.TrySetResult(response.As<Response>());
    }

    private async Task InvokeHandlersAsync(ReceivedMessage message, CancellationToken cancellationToken)
    {
        try
        {
            var scope = _services.GetRequiredService<IServiceScopeFactory>().CreateAsyncScope();
            await using (scope.ConfigureAwait(false))
            {
                var services = scope.ServiceProvider;
                await (message.Type switch
                {
                    MessageType.Thought => InvokeAsync<Thought>(services, message, cancellationToken),
                    MessageType.AgentCoordination => InvokeAsync<AgentCoordination>(services, message, cancellationToken),
                    MessageType.SwarmSync => InvokeAsync<SwarmSync>(services, message, cancellationToken),
                    MessageType.ConsensusProposal => InvokeAsync<ConsensusProposal>(services, message, cancellationToken),
                    MessageType.ConsensusVote => InvokeAsync<ConsensusVote>(services, message, cancellationToken),
                    MessageType.HealthCheck => InvokeAsync<HealthCheck>(services, message, cancellationToken),
                    MessageType.MetricsUpdate => InvokeAsync<MetricsUpdate>(services, message, cancellationToken),
                    MessageType.Command => InvokeAsync<Command>(services, message, cancellationToken),
                    _ => InvokeAsync<Response>(services, message, cancellationToken),
                }).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogHandlerFailed(message.TypeName, e);
        }
    }

    private async Task InvokeAsync<TBody>(IServiceProvider services, ReceivedMessage message, CancellationToken cancellationToken)
        where TBody : class, IMessage<TBody>
    {
        ReceivedMessage<TBody>? typed = null;
        foreach (var handler in services.GetServices<INeuralMessageHandler<TBody>>())
        {
            typed ??= message.As<TBody>();
            try
            {
                await handler.HandleAsync(typed, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                LogHandlerFailed(message.TypeName, e);
            }
        }
    }

    private async Task AnswerCommandAsync(ReceivedMessage<Command> command, CancellationToken cancellationToken)
    {
        try
        {
            Response response;
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var remaining = command.ExpiresAt - Now;
            deadline.CancelAfter(remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero);
            try
            {
                var scope = _services.GetRequiredService<IServiceScopeFactory>().CreateAsyncScope();
                await using (scope.ConfigureAwait(false))
                {
                    var handler = scope.ServiceProvider.GetServices<INeuralCommandHandler>().FirstOrDefault(h => h.CanHandle(command.Body));
                    response = handler is null
                        ? new Response { Success = false, Error = $"no handler for command '{command.Body.Name}' on this node" }
                        : await handler.HandleAsync(command, deadline.Token).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return; // expired: the sender has stopped waiting
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogHandlerFailed("command", e);
                response = new Response { Success = false, Error = $"command '{command.Body.Name}' failed: {e.Message}" };
            }
            await RespondAsync(command, response, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogSendFailed(command.SourcePeer, $"response to command {command.Id}: {e.Message}");
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            _commandSlots.Release();
        }
    }
}
