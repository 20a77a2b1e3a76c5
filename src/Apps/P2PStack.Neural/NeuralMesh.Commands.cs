using Microsoft.Extensions.DependencyInjection;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Neural.Messages;

namespace P2PStack.Neural;

public sealed partial class NeuralMesh
{
    /// <summary>Sends a command and waits for the response from the peer it went to.</summary>
    /// <exception cref="CommandTimeoutException">No response within <paramref name="timeout"/> (default: options).</exception>
    /// <exception cref="ResourceLimitExceededException">Too many commands await a response.</exception>
    public async Task<ReceivedMessage<Response>> SendCommandAsync(NeuralDestination to, Command command, SendOptions? options = null,
        TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(to);
        ArgumentNullException.ThrowIfNull(command);
        if (to.Kind == DestinationKind.Swarm) throw new ArgumentException("a command goes to one agent or peer, not a swarm", nameof(to));
        var wait = timeout ?? Options.CommandTimeout;
        var peer = to.Kind == DestinationKind.Peer ? to.Peer! : await ResolveAgentAsync(to.Name!, cancellationToken).ConfigureAwait(false);
        var sealTo = await SealingKeyForAsync(peer, options, cancellationToken).ConfigureAwait(false);
        var (message, envelope) = Create(to, command, options, sealTo);
        var id = NeuralMessageId.FromBytes(message.Id.Span);
        if (_pending.Count >= Options.MaxPendingCommands)
            throw new ResourceLimitExceededException("neural mesh", "pending commands", Options.MaxPendingCommands);
        var pending = new PendingCommand(peer, new TaskCompletionSource<ReceivedMessage<Response>>(TaskCreationOptions.RunContinuationsAsynchronously));
        _pending[id.Value] = pending;
        try
        {
            var posted = await PostToPeerAsync(peer, message, envelope, cancellationToken).ConfigureAwait(false);
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(wait);
            try
            {
                await posted.Sent.WaitAsync(deadline.Token).ConfigureAwait(false);
                return await pending.Completion.Task.WaitAsync(deadline.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && deadline.IsCancellationRequested)
            {
                throw new CommandTimeoutException(id, wait);
            }
        }
        finally
        {
            _pending.TryRemove(id.Value, out _);
        }
    }

    /// <summary>
    /// Answers a command: a response to its source (agent) carrying its id as correlation id, sent only over a
    /// connection that already exists: to the signer when connected, else back to the peer the command came from,
    /// which forwards it. Completes when the response is written.
    /// </summary>
    /// <exception cref="IOException">No existing connection leads back to the command's source.</exception>
    public async Task<NeuralMessageId> RespondAsync(ReceivedMessage command, Response response, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(response);
        if (command.Type != MessageType.Command) throw new ArgumentException("only commands are answered", nameof(command));
        var hop = ReplyHop(command) ?? throw new IOException($"no connection leads back to {command.SourcePeer} (responses never dial)");
        var (message, envelope) = await CreateResponseAsync(command, response, cancellationToken).ConfigureAwait(false);
        var posted = await PostToPeerAsync(hop, message, envelope, cancellationToken, existingConnectionOnly: true).ConfigureAwait(false);
        await posted.Sent.WaitAsync(cancellationToken).ConfigureAwait(false);
        return posted.Id;
    }

    /// <summary>Where a response to <paramref name="command"/> goes first: this node, the signer over an existing
    /// connection, or the peer the command came from (which forwards it); null when none of them is connected.</summary>
    private PeerId? ReplyHop(ReceivedMessage command)
    {
        if (command.SourcePeer == LocalPeer) return LocalPeer;
        if (_host.GetConnections(command.SourcePeer).Count > 0) return command.SourcePeer;
        var previous = command.ReceivedFrom;
        return previous != LocalPeer && previous != command.SourcePeer && _host.GetConnections(previous).Count > 0 ? previous : null;
    }

    /// <summary>The signed response; a sealed command is answered sealed, with the signer's sealing key taken from the
    /// cache or fetched over an existing connection only (a response never dials).</summary>
    /// <exception cref="SealingKeyUnavailableException">The command was sealed and the signer's key is not at hand.</exception>
    private async Task<(NeuralMessage Message, byte[] Envelope)> CreateResponseAsync(ReceivedMessage command, Response response,
        CancellationToken cancellationToken)
    {
        var to = command.SourceAgent.Length > 0 ? NeuralDestination.Agent(command.SourceAgent) : NeuralDestination.ToPeer(command.SourcePeer);
        var remaining = command.ExpiresAt - Now;
        var options = new SendOptions
        {
            Priority = command.Priority,
            Ttl = remaining < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : remaining > Options.MaxTtl ? Options.MaxTtl : remaining,
            FromAgent = command.Destination.Kind == DestinationKind.Agent && IsLocalAgent(command.Destination.Name!) ? command.Destination.Name : null,
            CorrelationId = command.Id,
            Seal = command.WasSealed ? true : null,
        };
        var sealTo = await SealingKeyForAsync(command.SourcePeer, options, cancellationToken, existingConnectionOnly: true)
            .ConfigureAwait(false);
        return Create(to, response, options, sealTo);
    }

    private void CompleteCommand(ReceivedMessage response)
    {
        if (response.CorrelationId is not { } id || !_pending.TryGetValue(id.Value, out var pending)) return;
        // Only the peer the command went to may answer it.
        if (pending.ExpectedPeer != response.SourcePeer) return;
        pending.Completion.TrySetResult(response.As<Response>());
    }

    /// <summary>One of <see cref="NeuralMeshOptions.MaxConcurrentCommands"/> workers answering received commands.</summary>
    private async Task CommandWorkerAsync()
    {
        var token = _lifetime.Token;
        try
        {
            await foreach (var command in _commands.Reader.ReadAllAsync(token).ConfigureAwait(false))
                await AnswerCommandAsync(command, token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
    }

    /// <summary>Runs the command's handler (until the command expires, at most <see cref="NeuralMeshOptions.CommandHandlerTimeout"/>)
    /// and queues the response without waiting for it to be written, so a peer that never reads cannot hold a worker.</summary>
    private async Task AnswerCommandAsync(ReceivedMessage<Command> command, CancellationToken cancellationToken)
    {
        Response response;
        using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            var remaining = command.ExpiresAt - Now;
            deadline.CancelAfter(remaining <= TimeSpan.Zero ? TimeSpan.Zero
                : remaining < Options.CommandHandlerTimeout ? remaining : Options.CommandHandlerTimeout);
            try
            {
                var scope = _scopes.CreateAsyncScope();
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
                response = new Response { Success = false, Error = $"command '{command.Body.Name}' did not finish in time" };
            }
            catch (OperationCanceledException)
            {
                return; // shutting down
            }
            catch (Exception e)
            {
                LogHandlerFailed("command", e);
                response = new Response { Success = false, Error = $"command '{command.Body.Name}' failed: {e.Message}" };
            }
        }
        if (Now >= command.ExpiresAt) return; // the sender has stopped waiting

        if (ReplyHop(command) is not { } hop)
        {
            Drop(MessageType.Response, DropReason.Unroutable, command.ReceivedFrom,
                $"no connection leads back to {command.SourcePeer} for the response to {command.Id}");
            return;
        }
        try
        {
            var (message, envelope) = await CreateResponseAsync(command, response, cancellationToken).ConfigureAwait(false);
            if (hop == LocalPeer)
            {
                await PostToPeerAsync(hop, message, envelope, cancellationToken).ConfigureAwait(false);
                return;
            }
            var item = new OutboundItem(NeuralMessageCodec.EncodeFrame(envelope, 0), MessageType.Response, (int)message.Priority,
                command.ExpiresAt, existingConnectionOnly: true);
            if (await TryEnqueueAsync(hop, item).ConfigureAwait(false) is { } refused)
                Drop(MessageType.Response, refused.Reason, hop, refused.Detail);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogSendFailed(command.SourcePeer, $"response to command {command.Id}: {e.Message}");
        }
    }
}
