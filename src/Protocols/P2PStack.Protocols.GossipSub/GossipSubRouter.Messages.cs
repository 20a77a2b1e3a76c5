using Microsoft.Extensions.Logging;
using P2PStack.Identity;
using P2PStack.Protocols.GossipSub.Pb;

namespace P2PStack.Protocols.GossipSub;

public sealed partial class GossipSubRouter
{
    /// <summary>Processes one RPC from a peer: subscriptions, then messages, then control.</summary>
    public void HandleRpc(PeerId from, RPC rpc)
    {
        ArgumentNullException.ThrowIfNull(rpc);
        if (!_peers.TryGetValue(from, out var state)) return;
        if (!_direct.Contains(from) && Score(from) < _thresholds.GraylistThreshold)
        {
            LogGraylisted(from);
            return;
        }
        HandleSubscriptions(from, state, rpc);
        foreach (var message in rpc.Publish) HandleMessage(from, message);
        if (rpc.Control is { } control) HandleControl(from, control);
        Flush();
    }

    private void HandleSubscriptions(PeerId from, PeerState state, RPC rpc)
    {
        int processed = 0;
        foreach (var sub in rpc.Subscriptions)
        {
            if (++processed > _options.MaxSubscriptionsPerRpc)
            {
                LogTooManySubscriptions(from, rpc.Subscriptions.Count);
                _score?.AddPenalty(from, 1);
                return;
            }
            if (!sub.HasTopicid || !IsAcceptableTopic(sub.Topicid))
            {
                _score?.AddPenalty(from, 1);
                continue;
            }
            string topic = sub.Topicid;
            if (sub.Subscribe)
            {
                if (state.Topics.Contains(topic)) continue;
                if (state.Topics.Count >= _options.MaxTopicsPerPeer)
                {
                    LogTooManyTopics(from, state.Topics.Count);
                    _score?.AddPenalty(from, 1);
                    continue;
                }
                state.Topics.Add(topic);
                if (!_topicPeers.TryGetValue(topic, out var peers)) _topicPeers[topic] = peers = [];
                peers.Add(from);
            }
            else if (state.Topics.Remove(topic))
            {
                if (_topicPeers.TryGetValue(topic, out var peers) && peers.Remove(from) && peers.Count == 0) _topicPeers.Remove(topic);
                if (_mesh.TryGetValue(topic, out var mesh)) PruneFromMesh(from, topic, mesh);
                if (_fanout.TryGetValue(topic, out var fanout)) fanout.Remove(from);
            }
        }
    }

    private bool IsAcceptableTopic(string topic) =>
        topic.Length > 0 && System.Text.Encoding.UTF8.GetByteCount(topic) <= _options.MaxTopicLength;

    private void HandleMessage(PeerId from, Message message)
    {
        if (!message.HasTopic || !IsAcceptableTopic(message.Topic) || message.CalculateSize() > _options.MaxMessageSize)
        {
            // Nothing about it can be trusted, not even the topic to charge P4 to: a behaviour penalty instead.
            _score?.AddPenalty(from, 1);
            return;
        }
        string topic = message.Topic;
        if (!_subscriptions.Contains(topic)) return; // we only relay topics we are subscribed to
        if (MessageSigning.CheckPolicy(message, _options.SignaturePolicy) is { } violation)
        {
            LogRejected(from, topic, violation);
            _score?.RejectMessage(null, topic, from, violation);
            Metrics?.Rejected(violation);
            return;
        }
        if (message.HasFrom && message.From.Span.SequenceEqual(_selfBytes))
        {
            // Our own messages come back only if someone forges them: a peer never relays to the author.
            _score?.RejectMessage(null, topic, from, RejectReason.SelfOrigin);
            Metrics?.Rejected(RejectReason.SelfOrigin);
            return;
        }
        MessageId id;
        try
        {
            id = ComputeId(message);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogIdFunctionFailed(from, topic, e);
            _score?.RejectMessage(null, topic, from, RejectReason.MalformedMessage);
            Metrics?.Rejected(RejectReason.MalformedMessage);
            return;
        }
        var now = _time.GetUtcNow();
        if (_seen.Contains(id, now))
        {
            DuplicateMessages++;
            _score?.DuplicateMessage(id, topic, from);
            Metrics?.Duplicate();
            return;
        }
        PeerId? author = null;
        if (_options.SignaturePolicy == SignaturePolicy.StrictSign)
        {
            // Verified only for unseen messages; a forged copy is not marked seen, so it cannot shadow the real one.
            author = MessageSigning.Verify(message);
            if (author is null)
            {
                LogRejected(from, topic, RejectReason.InvalidSignature);
                _score?.RejectMessage(id, topic, from, RejectReason.InvalidSignature);
                Metrics?.Rejected(RejectReason.InvalidSignature);
                return;
            }
        }
        _seen.Add(id, now);
        FirstMessages++;
        _score?.ValidateMessage(id);
        _promises.Fulfill(id);
        if (message.Data.Length >= _options.IDontWantMessageThreshold) SendIDontWant(from, topic, id);
        var pending = new PendingMessage(id, message, from, author);
        if (_host.BeginValidation(pending) is { } verdict) Complete(pending, verdict);
    }

    /// <summary>gossipsub v1.2: tell the other mesh peers at once that we have this (large) message.</summary>
    private void SendIDontWant(PeerId from, string topic, MessageId id)
    {
        if (!_mesh.TryGetValue(topic, out var mesh)) return;
        foreach (var peer in mesh)
        {
            if (peer == from || !Supports(peer, PeerFeatures.IDontWant)) continue;
            var control = Control(peer)!;
            var entry = control.Idontwant.Count > 0 ? control.Idontwant[0] : null;
            if (entry is null) control.Idontwant.Add(entry = new ControlIDontWant());
            entry.MessageIDs.Add(Google.Protobuf.ByteString.CopyFrom(id.Bytes.Span));
        }
    }

    /// <summary>Applies the application's verdict on a received message.</summary>
    public void CompleteValidation(PendingMessage pending, ValidationResult result)
    {
        ArgumentNullException.ThrowIfNull(pending);
        Complete(pending, result);
        Flush();
    }

    private void Complete(PendingMessage pending, ValidationResult result)
    {
        switch (result)
        {
            case ValidationResult.Accept:
                _score?.DeliverMessage(pending.Id, pending.Topic, pending.ReceivedFrom);
                _mcache.Put(pending.Id, pending.Message);
                Forward(pending.Message, pending.Id, pending.ReceivedFrom);
                if (_subscriptions.Contains(pending.Topic))
                    _host.Deliver(new PubSubMessage(pending.Id, pending.Message, pending.ReceivedFrom, pending.Author));
                break;
            case ValidationResult.Reject:
                LogRejected(pending.ReceivedFrom, pending.Topic, RejectReason.ValidationFailed);
                _score?.RejectMessage(pending.Id, pending.Topic, pending.ReceivedFrom, RejectReason.ValidationFailed);
                Metrics?.Rejected(RejectReason.ValidationFailed);
                break;
            default:
                _score?.RejectMessage(pending.Id, pending.Topic, pending.ReceivedFrom, RejectReason.ValidationIgnored);
                Metrics?.Rejected(RejectReason.ValidationIgnored);
                break;
        }
    }

    /// <summary>
    /// Publishes a message authored here (already signed per policy and validated by the caller). Returns its id.
    /// </summary>
    /// <exception cref="InvalidOperationException">A message with the same id was already seen.</exception>
    public MessageId Publish(Message message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var id = ComputeId(message);
        if (!_seen.Add(id, _time.GetUtcNow())) throw new InvalidOperationException($"message {id} was already published or seen");
        _mcache.Put(id, message);
        Forward(message, id, _self);
        if (_options.DeliverOwnMessages && _subscriptions.Contains(message.Topic))
            _host.Deliver(new PubSubMessage(id, message, _self, message.HasFrom ? _self : null));
        Flush();
        return id;
    }

    /// <summary>Sends a message on: flood publish for our own, otherwise direct, floodsub, and mesh (or fanout) peers.</summary>
    private void Forward(Message message, MessageId id, PeerId from)
    {
        string topic = message.Topic;
        if (!_topicPeers.TryGetValue(topic, out var topicPeers)) return;
        var targets = new HashSet<PeerId>();
        if (from == _self && _options.FloodPublish)
        {
            foreach (var peer in topicPeers)
                if (_direct.Contains(peer) || Score(peer) >= _thresholds.PublishThreshold) targets.Add(peer);
        }
        else
        {
            foreach (var peer in _direct)
                if (topicPeers.Contains(peer)) targets.Add(peer);
            foreach (var peer in topicPeers)
                if (!IsGossipSub(peer) && Score(peer) >= _thresholds.PublishThreshold) targets.Add(peer);
            if (!_mesh.TryGetValue(topic, out var peers))
            {
                // Not subscribed: publish through the fanout, creating it if needed.
                if (!_fanout.TryGetValue(topic, out peers) || peers.Count == 0)
                {
                    var chosen = GetPeers(topic, _options.D, p => !_direct.Contains(p) && Score(p) >= _thresholds.PublishThreshold);
                    if (chosen.Count > 0) _fanout[topic] = peers = [.. chosen];
                }
                _lastPublished[topic] = _time.GetUtcNow();
            }
            if (peers is not null)
                foreach (var peer in peers)
                    if (!(_peers.TryGetValue(peer, out var state) && state.DontSend is { } dontSend && dontSend.ContainsKey(id)))
                        targets.Add(peer);
        }
        byte[]? author = message.HasFrom ? message.From.ToByteArray() : null;
        foreach (var peer in targets)
        {
            if (peer == from || (author is not null && peer.Bytes.Span.SequenceEqual(author))) continue;
            Outbox(peer).Publish.Add(message);
        }
    }

    /// <summary>Subscribes: announces the topic to every peer and builds the mesh (JOIN).</summary>
    /// <exception cref="InvalidOperationException">The local subscription limit is reached.</exception>
    public void Join(string topic)
    {
        ArgumentNullException.ThrowIfNull(topic);
        if (!IsAcceptableTopic(topic)) throw new ArgumentException($"topic must be 1 to {_options.MaxTopicLength} UTF-8 bytes", nameof(topic));
        if (_subscriptions.Contains(topic)) return;
        if (_subscriptions.Count >= _options.MaxLocalSubscriptions)
            throw new InvalidOperationException($"already subscribed to {_subscriptions.Count} topics, the limit (MaxLocalSubscriptions)");
        _subscriptions.Add(topic);
        foreach (var peer in _peers.Keys) Outbox(peer).Subscriptions.Add(new RPC.Types.SubOpts { Subscribe = true, Topicid = topic });

        if (_fanout.Remove(topic, out var fanout))
        {
            _lastPublished.Remove(topic);
            // Fanout peers passed the publish threshold, which may be negative: keep only the mesh-worthy ones.
            fanout.RemoveWhere(p => Score(p) < 0 || InBackoff(topic, p));
            if (fanout.Count < _options.D)
                foreach (var peer in GetPeers(topic, _options.D - fanout.Count,
                             p => !fanout.Contains(p) && !_direct.Contains(p) && !InBackoff(topic, p) && Score(p) >= 0))
                    fanout.Add(peer);
        }
        else
        {
            fanout = [.. GetPeers(topic, _options.D, p => !_direct.Contains(p) && !InBackoff(topic, p) && Score(p) >= 0)];
        }
        var mesh = _mesh[topic] = [];
        foreach (var peer in fanout)
        {
            GraftInMesh(peer, topic, mesh);
            Control(peer)?.Graft.Add(new ControlGraft { TopicID = topic });
        }
        Flush();
    }

    /// <summary>Unsubscribes: announces it, PRUNEs the mesh with the unsubscribe backoff (LEAVE).</summary>
    public void Leave(string topic)
    {
        if (!_subscriptions.Remove(topic)) return;
        foreach (var peer in _peers.Keys) Outbox(peer).Subscriptions.Add(new RPC.Types.SubOpts { Subscribe = false, Topicid = topic });
        if (_mesh.Remove(topic, out var mesh))
        {
            foreach (var peer in mesh)
            {
                _score?.Prune(peer, topic);
                _host.MeshChanged(peer, topic, false);
                Control(peer)?.Prune.Add(MakePrune(peer, topic, _options.DoPeerExchange, unsubscribe: true));
                AddBackoff(peer, topic, unsubscribe: true);
            }
        }
        Flush();
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "ignoring RPC from graylisted peer {Peer}")]
    private partial void LogGraylisted(PeerId peer);

    [LoggerMessage(Level = LogLevel.Debug, Message = "peer {Peer} sent {Count} subscription changes in one RPC, over the limit")]
    private partial void LogTooManySubscriptions(PeerId peer, int count);

    [LoggerMessage(Level = LogLevel.Debug, Message = "peer {Peer} is already subscribed to {Count} topics, the limit")]
    private partial void LogTooManyTopics(PeerId peer, int count);

    [LoggerMessage(Level = LogLevel.Debug, Message = "rejected message from {Peer} in {Topic}: {Reason}")]
    private partial void LogRejected(PeerId peer, string topic, RejectReason reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "message id function threw for a message from {Peer} in {Topic}")]
    private partial void LogIdFunctionFailed(PeerId peer, string topic, Exception exception);
}
