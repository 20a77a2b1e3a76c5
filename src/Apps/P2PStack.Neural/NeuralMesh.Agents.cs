using P2PStack.Identity;
using P2PStack.Protocols.Kademlia;
using P2PStack.Records;

namespace P2PStack.Neural;

public sealed partial class NeuralMesh
{
    /// <summary>Agents registered on this node.</summary>
    public IReadOnlyList<string> LocalAgents
    {
        get { lock (_agentsGate) return [.. _agents.Order(StringComparer.Ordinal)]; }
    }

    public bool IsLocalAgent(string name)
    {
        lock (_agentsGate) return _agents.Contains(name);
    }

    /// <summary>
    /// Registers an agent on this node and publishes its signed record (/agent/&lt;name&gt; -> this peer) in the DHT.
    /// Returns how many DHT peers stored it (0 without a DHT or peers; the agent is registered locally anyway).
    /// </summary>
    public async Task<int> RegisterAgentAsync(string name, CancellationToken cancellationToken = default)
    {
        NeuralProtocol.ValidateName(name, "agent");
        lock (_agentsGate) _agents.Add(name);
        return await PublishAgentAsync(name, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Removes a local agent; messages to it are no longer delivered here. Returns whether it was registered.</summary>
    public bool UnregisterAgent(string name)
    {
        lock (_agentsGate) return _agents.Remove(name);
    }

    /// <summary>Publishes the agent's record again with a new sequence number.</summary>
    public async Task<int> PublishAgentAsync(string name, CancellationToken cancellationToken = default)
    {
        if (_dht is not { } dht) return 0;
        byte[] record = AgentRecords.Create(name, PeerRecord.NextTimestampSeq(), _identity.PrivateKey, SealingPublicKey);
        try
        {
            return await dht.PutValueAsync(NeuralProtocol.AgentKey(name), record, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogPublishFailed(name, e.Message);
            return 0;
        }
    }

    /// <summary>The peer an agent lives on: this node for local agents, else a cached or DHT-resolved record.</summary>
    /// <exception cref="AgentNotFoundException">No valid record.</exception>
    public async Task<PeerId> ResolveAgentAsync(string name, CancellationToken cancellationToken = default)
    {
        NeuralProtocol.ValidateName(name, "agent");
        if (IsLocalAgent(name)) return LocalPeer;
        if (_agentCache.TryGet(name, Now) is { } cached) return cached;
        if (_dht is not { } dht) throw new AgentNotFoundException(name, "not a local agent and no DHT is configured");
        byte[] value;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            timeout.CancelAfter(Options.AgentResolveTimeout);
            try
            {
                value = await dht.GetValueAsync(NeuralProtocol.AgentKey(name), timeout.Token).ConfigureAwait(false);
            }
            catch (DhtNotFoundException e)
            {
                throw new AgentNotFoundException(name, "no agent record in the DHT", e);
            }
            catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
            {
                throw new AgentNotFoundException(name, $"the DHT lookup took longer than {Options.AgentResolveTimeout.TotalSeconds:0.#} s", e);
            }
        }
        AgentLocation location;
        try
        {
            location = AgentRecords.Open(value);
        }
        catch (NeuralFormatException e)
        {
            throw new AgentNotFoundException(name, e.Message, e);
        }
        if (location.Name != name) throw new AgentNotFoundException(name, "the DHT answered with another agent's record");
        _agentCache.Set(name, location.Peer, Now + Options.AgentCacheTtl);
        if (!location.SealingKey.IsEmpty) RememberSealingKey(location.Peer, location.SealingKey.ToArray());
        return location.Peer;
    }

    /// <summary>Cached location only (the receive path never starts lookups on a sender's behalf).</summary>
    private PeerId? CachedAgentPeer(string name) => IsLocalAgent(name) ? LocalPeer : _agentCache.TryGet(name, Now);

    internal async Task RepublishAgentsAsync(CancellationToken cancellationToken)
    {
        foreach (var agent in LocalAgents) await PublishAgentAsync(agent, cancellationToken).ConfigureAwait(false);
    }
}
