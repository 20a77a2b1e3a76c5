using System.Threading.Channels;
using P2PStack.Neural.Messages;
using P2PStack.Protocols.GossipSub;

namespace P2PStack.Neural;

public sealed partial class NeuralMesh
{
    /// <summary>Swarms this node has joined.</summary>
    public IReadOnlyList<string> JoinedSwarms
    {
        get { lock (_swarmsGate) return [.. _swarms.Keys.Order(StringComparer.Ordinal)]; }
    }

    /// <summary>
    /// Joins a swarm: subscribes to its topics (one per message family) with a validator that rejects unsigned,
    /// forged, malformed or misrouted messages and ignores expired and replayed ones at every gossip hop.
    /// </summary>
    /// <exception cref="InvalidOperationException">Gossipsub is not registered.</exception>
    public async Task JoinSwarmAsync(string swarm, CancellationToken cancellationToken = default)
    {
        NeuralProtocol.ValidateName(swarm, "swarm");
        var gossip = _gossip ?? throw new InvalidOperationException("swarms need gossipsub: add AddGossipSub() to the peer");
        var membership = new SwarmMembership();
        lock (_swarmsGate)
        {
            ObjectDisposedException.ThrowIf(_lifetime.IsCancellationRequested, this);
            if (!_swarms.TryAdd(swarm, membership)) return;
        }
        foreach (var family in NeuralMessageTypes.SwarmFamilies)
        {
            string topic = NeuralProtocol.SwarmTopic(swarm, family);
            membership.Validators.Add(gossip.RegisterValidator(topic, m => ValidateGossip(swarm, family, m)));
            var subscription = await gossip.SubscribeAsync(topic, cancellationToken).ConfigureAwait(false);
            membership.Subscriptions.Add(subscription);
            membership.Readers.Add(Task.Run(() => ReadSwarmAsync(subscription, _lifetime.Token)));
        }
    }

    /// <summary>Leaves a swarm (unsubscribes from its topics). Returns whether it was joined.</summary>
    public async Task<bool> LeaveSwarmAsync(string swarm)
    {
        SwarmMembership? membership;
        lock (_swarmsGate)
        {
            if (!_swarms.Remove(swarm, out membership)) return false;
        }
        await membership.DisposeAsync().ConfigureAwait(false);
        return true;
    }

    private async Task LeaveAllSwarmsAsync()
    {
        foreach (var swarm in JoinedSwarms) await LeaveSwarmAsync(swarm).ConfigureAwait(false);
    }

    private ValidationResult ValidateGossip(string swarm, string family, PubSubMessage gossip)
    {
        var now = Now;
        NeuralFrame frame;
        try
        {
            frame = NeuralMessageCodec.DecodeFrame(gossip.Data.Span);
        }
        catch (NeuralFormatException e)
        {
            Drop(MessageType.Unspecified, DropReason.Malformed, gossip.ReceivedFrom, e.Message);
            return ValidationResult.Reject;
        }
        // Gossip hops are gossipsub's business: swarm messages are bounded by their TTL and the seen cache.
        var result = NeuralMessageCodec.Verify(frame.Envelope.Span, 0, now, Options);
        if (result.Message is not { } message)
        {
            Drop(result.Type, result.Reason, gossip.ReceivedFrom, result.Detail);
            return result.Reason is DropReason.Expired or DropReason.ClockSkew ? ValidationResult.Ignore : ValidationResult.Reject;
        }
        var type = message.TypeInfo.Type;
        if (message.Destination.Kind != DestinationKind.Swarm || message.Destination.Name != swarm || message.TypeInfo.SwarmFamily != family)
        {
            Drop(type, DropReason.Malformed, gossip.ReceivedFrom, $"a {message.TypeInfo.Name} message for {message.Destination} on topic {gossip.Topic}");
            return ValidationResult.Reject;
        }
        // The gossip author must be the neural signer, so nobody re-publishes another peer's message as new gossip.
        if (gossip.Author is { } author && author != message.Source)
        {
            Drop(type, DropReason.SenderMismatch, gossip.ReceivedFrom, $"published by {author}, signed by {message.Source}");
            return ValidationResult.Reject;
        }
        if (message.Source != LocalPeer && _replay.Check(message.Source, message.Id, message.CreatedAt, now) is { } seen)
        {
            Drop(type, seen, gossip.ReceivedFrom, $"message {message.Id}");
            return ValidationResult.Ignore;
        }
        if (message.Message.BodyCase == NeuralMessage.BodyOneofCase.Sealed)
        {
            // Sealed with the swarm key: a member without the key cannot judge it (not relayed by it); one that
            // does not open with the key is forged or moved from another message.
            if (!Options.SwarmKeys.TryGetValue(swarm, out var swarmKey))
            {
                Drop(type, DropReason.BadSeal, gossip.ReceivedFrom, $"sealed with a key of swarm {swarm} this node does not hold");
                return ValidationResult.Ignore;
            }
            try
            {
                message = Opened(message, NeuralSeal.OpenForSwarm(message.Message, swarmKey, swarm));
            }
            catch (NeuralSealException e)
            {
                Drop(type, DropReason.BadSeal, gossip.ReceivedFrom, e.Message);
                return ValidationResult.Reject;
            }
        }
        else if (Options.SwarmKeys.ContainsKey(swarm))
        {
            // A swarm with a key takes sealed messages only: a clear one did not come from a member.
            Drop(type, DropReason.BadSeal, gossip.ReceivedFrom, $"swarm {swarm} is sealed and this message is not");
            return ValidationResult.Reject;
        }
        _validated.AddOrUpdate(gossip.Raw, message);
        return ValidationResult.Accept;
    }

    private async Task ReadSwarmAsync(Subscription subscription, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var gossip in subscription.WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                if (!_validated.TryGetValue(gossip.Raw, out var message)) continue; // not through our validator: never trusted
                _validated.Remove(gossip.Raw);
                if (message.Source == LocalPeer) continue; // our own publication, echoed by gossipsub
                var now = Now;
                if (now >= message.ExpiresAt)
                {
                    Drop(message.TypeInfo.Type, DropReason.Expired, gossip.ReceivedFrom, "expired before delivery");
                    continue;
                }
                if (_replay.TryAccept(message.Source, message.Id, BlockOf(gossip.ReceivedFrom), message.CreatedAt, message.ExpiresAt, now) is { } replay)
                {
                    Drop(message.TypeInfo.Type, replay, gossip.ReceivedFrom, $"message {message.Id}");
                    continue;
                }
                await DeliverAsync(new Delivery(message, now, gossip.ReceivedFrom), wait: true, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ChannelClosedException && cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>The address block of the gossip peer a swarm message came from (its first connection's); a peer gone
    /// meanwhile counts under <see cref="AddressBlock.Unknown"/>, one share however many such peers there are.</summary>
    private AddressBlock BlockOf(Identity.PeerId gossipPeer)
    {
        var connections = _host.GetConnections(gossipPeer);
        return connections.Count > 0 ? AddressBlock.Of(connections[0]) : AddressBlock.Unknown;
    }
}
