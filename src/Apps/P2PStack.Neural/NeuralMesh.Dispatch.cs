using Google.Protobuf;
using Microsoft.Extensions.DependencyInjection;
using P2PStack.Neural.Messages;

namespace P2PStack.Neural;

public sealed partial class NeuralMesh
{
    /// <summary>Delivers verified messages one at a time: listeners, then the DI handlers of the body type. Commands are
    /// then handed to the command workers without waiting (a full command queue drops the command), so nothing a sender
    /// does with commands can hold up delivery.</summary>
    private async Task DispatchLoopAsync()
    {
        var token = _lifetime.Token;
        try
        {
            await foreach (var delivery in _inbound.Reader.ReadAllAsync(token).ConfigureAwait(false))
            {
                try
                {
                    await DispatchAsync(delivery, token).ConfigureAwait(false);
                }
                finally
                {
                    Memory?.ReleaseMemory(delivery.Size);
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
    }

    private async Task DispatchAsync(Delivery delivery, CancellationToken token)
    {
        var message = delivery.Message;
        if (Now >= message.ExpiresAt)
        {
            Drop(message.TypeInfo.Type, DropReason.Expired, message.Source, "expired while waiting for the handlers");
            return;
        }
        var received = new ReceivedMessage(message, delivery.ReceivedAt, delivery.From);
        Metrics.Received(message.TypeInfo.Type, delivery.ReceivedAt - message.CreatedAt);
        if (message.TypeInfo.Type == MessageType.Response) CompleteCommand(received);
        NotifyListeners(received);
        await InvokeHandlersAsync(received, token).ConfigureAwait(false);
        if (message.TypeInfo.Type == MessageType.Command && !_commands.Writer.TryWrite(received.As<Command>()))
            Drop(MessageType.Command, DropReason.QueueFull, delivery.From, "every command worker is busy and the command queue is full");
    }

    private async Task InvokeHandlersAsync(ReceivedMessage message, CancellationToken cancellationToken)
    {
        try
        {
            var scope = _scopes.CreateAsyncScope();
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
}
