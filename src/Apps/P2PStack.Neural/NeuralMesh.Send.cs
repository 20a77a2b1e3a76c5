using Google.Protobuf;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Neural.Messages;

namespace P2PStack.Neural;

public sealed partial class NeuralMesh
{
    /// <summary>
    /// Signs the message and puts it in the destination peer's send queue (an agent is resolved first; a swarm
    /// destination publishes). Waits while the queue is full. <see cref="PostedMessage.Sent"/> completes when the
    /// message is written to the stream, or fails with why it was not.
    /// </summary>
    /// <exception cref="ArgumentException">Bad priority, TTL, sender agent, or the message is too large.</exception>
    /// <exception cref="AgentNotFoundException">The agent cannot be resolved.</exception>
    public async ValueTask<PostedMessage> PostAsync(NeuralDestination to, IMessage body, SendOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(to);
        ArgumentNullException.ThrowIfNull(body);
        if (to.Kind == DestinationKind.Swarm)
        {
            if (options?.Reliable == true)
                throw new ArgumentException("a swarm message is published over gossipsub: it cannot be acknowledged (reliable is for direct messages)", nameof(options));
            var id = await PublishCoreAsync(to.Name!, body, options, cancellationToken).ConfigureAwait(false);
            return new PostedMessage(id, null, Task.CompletedTask);
        }
        var peer = to.Kind == DestinationKind.Peer ? to.Peer! : await ResolveAgentAsync(to.Name!, cancellationToken).ConfigureAwait(false);
        var sealTo = await SealingKeyForAsync(peer, options, cancellationToken).ConfigureAwait(false);
        var (message, envelope) = Create(to, body, options, sealTo);
        if (options?.Reliable == true) return PostReliably(peer, message, envelope, cancellationToken) with { Sealed = sealTo is not null };
        return await PostToPeerAsync(peer, message, envelope, cancellationToken).ConfigureAwait(false) with { Sealed = sealTo is not null };
    }

    /// <summary>Sends with acknowledgement and retries (<see cref="SendOptions.Reliable"/> set for you) and waits for
    /// the outcome: delivered, refused by the receiver, or failed after the attempts that fit in the give-up time.</summary>
    public async Task<DeliveryReport> SendReliableAsync(NeuralDestination to, IMessage body, SendOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var posted = await PostAsync(to, body, (options ?? new SendOptions()) with { Reliable = true }, cancellationToken).ConfigureAwait(false);
        return await posted.Delivery!.ConfigureAwait(false);
    }

    /// <summary>Sends and waits until the message is written to the stream (or delivered locally).</summary>
    public async Task<NeuralMessageId> SendAsync<TBody>(NeuralDestination to, TBody body, SendOptions? options = null,
        CancellationToken cancellationToken = default) where TBody : class, IMessage<TBody>
    {
        var posted = await PostAsync(to, body, options, cancellationToken).ConfigureAwait(false);
        await posted.Sent.WaitAsync(cancellationToken).ConfigureAwait(false);
        return posted.Id;
    }

    /// <summary>Sends a thought to an agent with a priority and a TTL.</summary>
    public Task<NeuralMessageId> SendThoughtAsync(string agent, string content, int priority, TimeSpan ttl,
        CancellationToken cancellationToken = default) =>
        SendAsync(NeuralDestination.Agent(agent), new Thought { Content = content }, new SendOptions { Priority = priority, Ttl = ttl },
            cancellationToken);

    /// <summary>Publishes to every member of a swarm over gossipsub (topic /synaptic/swarm/&lt;swarm&gt;/&lt;family&gt;).</summary>
    public Task<NeuralMessageId> PublishAsync<TBody>(string swarm, TBody body, SendOptions? options = null,
        CancellationToken cancellationToken = default) where TBody : class, IMessage<TBody> =>
        PublishCoreAsync(swarm, body, options, cancellationToken);

    private async Task<NeuralMessageId> PublishCoreAsync(string swarm, IMessage body, SendOptions? options, CancellationToken cancellationToken)
    {
        NeuralProtocol.ValidateName(swarm, "swarm");
        var info = NeuralMessageTypes.Of(body.GetType());
        if (info.SwarmFamily is null) throw new ArgumentException($"{info.Name} messages cannot go to a swarm", nameof(body));
        var gossip = _gossip ?? throw new InvalidOperationException("swarms need gossipsub: add AddGossipSub() to the peer");
        Options.SwarmKeys.TryGetValue(swarm, out var swarmKey);
        if (options?.Seal == true && swarmKey is null) throw new ArgumentException($"no key for swarm {swarm}: its messages cannot be sealed", nameof(options));
        var (message, envelope) = Create(NeuralDestination.Swarm(swarm), body, options, swarmKey is null ? null : (swarmKey, swarm));
        await gossip.PublishAsync(NeuralProtocol.SwarmTopic(swarm, info.SwarmFamily), NeuralMessageCodec.EncodeFrame(envelope, 0), cancellationToken)
            .ConfigureAwait(false);
        Metrics.Sent(info.Type);
        return NeuralMessageId.FromBytes(message.Id.Span);
    }

    private async ValueTask<PostedMessage> PostToPeerAsync(PeerId peer, NeuralMessage message, byte[] envelope, CancellationToken cancellationToken,
        bool existingConnectionOnly = false)
    {
        var id = NeuralMessageId.FromBytes(message.Id.Span);
        if (peer == LocalPeer)
        {
            // Agents on this node: the same checks as from the network, without the stream.
            if (!await ReceiveEnvelopeAsync(envelope, 0, LocalPeer, block: null, wait: false, cancellationToken).ConfigureAwait(false))
                throw new InvalidOperationException($"message {id} to a local agent was dropped (see the drop counters)");
            Metrics.Sent(message.Type);
            return new PostedMessage(id, peer, Task.CompletedTask);
        }
        var expires = DateTimeOffset.FromUnixTimeMilliseconds((long)message.CreatedAtMs) + TimeSpan.FromSeconds(message.TtlSeconds);
        var item = new OutboundItem(NeuralMessageCodec.EncodeFrame(envelope, 0), message.Type, (int)message.Priority, expires,
            existingConnectionOnly);
        var queue = AcquireQueue(existingConnectionOnly ? peer : NextHop(peer));
        try
        {
            await queue.EnqueueAsync(item, wait: true, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            ReleaseQueue(queue);
        }
        return new PostedMessage(id, peer, item.Sent.Task);
    }

    /// <summary>
    /// The peer to write a message for <paramref name="peer"/> to: the peer itself when connected or when no
    /// <see cref="INeuralNextHops"/> names a forwarder for it; otherwise a named forwarder, one already connected first
    /// (it forwards over its own connection to the peer, as every node does within the hop limit).
    /// </summary>
    private PeerId NextHop(PeerId peer)
    {
        if (_nextHops.Length == 0 || _host.GetConnections(peer).Count > 0) return peer;
        PeerId? first = null;
        foreach (var hops in _nextHops)
        {
            foreach (var hop in hops.For(peer))
            {
                if (hop == peer || hop == LocalPeer) continue;
                if (_host.GetConnections(hop).Count > 0) return hop;
                first ??= hop;
            }
        }
        return first ?? peer;
    }

    /// <param name="sealTo">The recipient's X-Wing public key to seal the body to, or null to send it in the clear.</param>
    private (NeuralMessage Message, byte[] Envelope) Create(NeuralDestination to, IMessage body, SendOptions? options, byte[]? sealTo = null) =>
        Create(to, body, options, sealTo, null);

    /// <param name="swarmSeal">For a swarm with a shared key: the key and the swarm, to seal the body with.</param>
    private (NeuralMessage Message, byte[] Envelope) Create(NeuralDestination to, IMessage body, SendOptions? options,
        (byte[] Key, string Swarm)? swarmSeal) => Create(to, body, options, null, swarmSeal);

    private (NeuralMessage Message, byte[] Envelope) Create(NeuralDestination to, IMessage body, SendOptions? options, byte[]? sealTo,
        (byte[] Key, string Swarm)? swarmSeal, Network.ILocalIdentity? signAs = null)
    {
        var correlation = options?.CorrelationId;
        if ((body is Response) != correlation.HasValue)
            throw new ArgumentException("a response needs the correlation id of its command, and only a response has one", nameof(options));
        int priority = options?.Priority ?? Options.DefaultPriority;
        if (priority is < 0 or > NeuralProtocol.MaxPriority)
            throw new ArgumentException($"priority must be 0 to {NeuralProtocol.MaxPriority}, not {priority}", nameof(options));
        var ttl = options?.Ttl ?? Options.DefaultTtl;
        if (ttl < TimeSpan.FromSeconds(1) || ttl > Options.MaxTtl)
            throw new ArgumentException($"TTL must be 1 s to {Options.MaxTtl.TotalSeconds:0} s, not {ttl.TotalSeconds:0.###} s", nameof(options));
        int hopLimit = options?.HopLimit ?? Options.DefaultHopLimit;
        ArgumentOutOfRangeException.ThrowIfNegative(hopLimit);
        string fromAgent = options?.FromAgent ?? "";
        if (fromAgent.Length > 0 && !IsLocalAgent(fromAgent))
            throw new ArgumentException($"agent '{fromAgent}' is not registered on this node", nameof(options));
        int bodySize = body.CalculateSize();
        if (bodySize > Options.MaxBodySize) throw new ArgumentException($"body of {bodySize} bytes is over the limit of {Options.MaxBodySize}", nameof(body));

        var message = new NeuralMessage
        {
            Id = ByteString.CopyFrom(NeuralMessageId.New().ToBytes()),
            SourceAgent = fromAgent,
            SourcePeer = ByteString.CopyFrom((signAs?.PeerId ?? LocalPeer).Bytes.Span),
            Destination = to.ToProto(),
            Priority = (uint)priority,
            TtlSeconds = (uint)Math.Ceiling(ttl.TotalSeconds),
            HopLimit = (uint)hopLimit,
            CreatedAtMs = (ulong)Now.ToUnixTimeMilliseconds(),
        };
        if (correlation is { } c) message.CorrelationId = ByteString.CopyFrom(c.ToBytes());
        message.Type = NeuralMessageTypes.Of(body.GetType()).Type;
        if (sealTo is not null && to.Kind != DestinationKind.Swarm) message.Sealed = NeuralSeal.Seal(message, body, sealTo);
        else if (swarmSeal is { } s && to.Kind == DestinationKind.Swarm && options?.Seal != false)
            message.Sealed = NeuralSeal.SealForSwarm(message, body, s.Key, s.Swarm);
        else NeuralMessageTypes.SetBody(message, body);
        byte[] envelope = NeuralMessageCodec.Seal(message, signAs?.PrivateKey ?? _identity.PrivateKey);
        if (envelope.Length > Options.MaxMessageSize)
            throw new ArgumentException($"signed message of {envelope.Length} bytes is over the limit of {Options.MaxMessageSize}", nameof(body));
        return (message, envelope);
    }
}
