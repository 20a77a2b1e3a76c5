using Google.Protobuf;
using Microsoft.Extensions.Logging;
using P2PStack.Identity;
using P2PStack.Protocols.GossipSub.Pb;
using P2PStack.Records;

namespace P2PStack.Protocols.GossipSub;

public sealed partial class GossipSubRouter
{
    private void HandleControl(PeerId from, ControlMessage control)
    {
        HandleIHave(from, control);
        HandleIWant(from, control);
        HandleGraft(from, control);
        HandlePrune(from, control);
        HandleIDontWant(from, control);
    }

    private void HandleIHave(PeerId from, ControlMessage control)
    {
        if (control.Ihave.Count == 0) return;
        var state = _peers[from];
        // Gossip from peers below the gossip threshold is ignored.
        if (Score(from) < _thresholds.GossipThreshold) return;
        if (++state.IHaveCount > _options.MaxIHaveMessages)
        {
            LogIHaveFlood(from, state.IHaveCount);
            return;
        }
        if (state.IAsked >= _options.MaxIHaveLength) return;
        var now = _time.GetUtcNow();
        var wanted = new HashSet<MessageId>();
        foreach (var ihave in control.Ihave)
        {
            if (!_mesh.ContainsKey(ihave.TopicID)) continue;
            int index = 0;
            foreach (var rawId in ihave.MessageIDs)
            {
                if (index++ >= _options.MaxIHaveLength) break;
                var id = new MessageId(rawId.ToByteArray());
                if (!_seen.Contains(id, now)) wanted.Add(id);
            }
        }
        if (wanted.Count == 0) return;
        int ask = Math.Min(wanted.Count, _options.MaxIHaveLength - state.IAsked);
        var list = wanted.ToList();
        Shuffle(list);
        list.RemoveRange(ask, list.Count - ask);
        state.IAsked += ask;
        _promises.AddPromise(from, list, now);
        var iwant = new ControlIWant();
        foreach (var id in list) iwant.MessageIDs.Add(ByteString.CopyFrom(id.Bytes.Span));
        Control(from)?.Iwant.Add(iwant);
    }

    private void HandleIWant(PeerId from, ControlMessage control)
    {
        if (control.Iwant.Count == 0) return;
        if (Score(from) < _thresholds.GossipThreshold) return;
        var state = _peers[from];
        var answered = new HashSet<MessageId>();
        foreach (var iwant in control.Iwant)
        {
            foreach (var rawId in iwant.MessageIDs)
            {
                var id = new MessageId(rawId.ToByteArray());
                if (answered.Contains(id)) continue;
                if (state.DontSend is { } dontSend && dontSend.ContainsKey(id)) continue;
                if (!_mcache.TryGetForPeer(id, from, out var message, out int count)) continue;
                if (count > _options.GossipRetransmission)
                {
                    LogIWantRetransmission(from, id);
                    continue;
                }
                answered.Add(id);
                Outbox(from).Publish.Add(message);
            }
        }
    }

    private void HandleGraft(PeerId from, ControlMessage control)
    {
        if (control.Graft.Count == 0) return;
        var state = _peers[from];
        bool doPX = _options.DoPeerExchange;
        double score = Score(from);
        var now = _time.GetUtcNow();
        List<string>? prune = null;
        foreach (var graft in control.Graft)
        {
            string topic = graft.TopicID;
            // Spam hardening: GRAFTs for topics we are not in are ignored (and we do not leak peers by PX).
            if (!_mesh.TryGetValue(topic, out var mesh))
            {
                doPX = false;
                continue;
            }
            if (mesh.Contains(from)) continue;
            if (_direct.Contains(from))
            {
                LogGraftFromDirectPeer(from, topic);
                (prune ??= []).Add(topic);
                doPX = false;
                continue;
            }
            if (_backoff.TryGetValue(topic, out var backoffs) && backoffs.TryGetValue(from, out var expiry) && now < expiry)
            {
                // Grafting during our backoff is a protocol violation: penalise, more so if right after the PRUNE.
                _score?.AddPenalty(from, 1);
                doPX = false;
                if (now < expiry + _options.GraftFloodThreshold - _options.PruneBackoff) _score?.AddPenalty(from, 1);
                AddBackoff(from, topic, unsubscribe: false);
                (prune ??= []).Add(topic);
                continue;
            }
            if (score < 0)
            {
                (prune ??= []).Add(topic);
                doPX = false;
                AddBackoff(from, topic, unsubscribe: false);
                continue;
            }
            // At D_high we only accept outbound peers, so a sybil inbound flood cannot take the mesh over.
            if (mesh.Count >= _options.DHigh && !state.Outbound)
            {
                (prune ??= []).Add(topic);
                AddBackoff(from, topic, unsubscribe: false);
                continue;
            }
            GraftInMesh(from, topic, mesh);
        }
        if (prune is null) return;
        var ctl = Control(from);
        if (ctl is null) return;
        foreach (var topic in prune) ctl.Prune.Add(MakePrune(from, topic, doPX, unsubscribe: false));
    }

    private void HandlePrune(PeerId from, ControlMessage control)
    {
        if (control.Prune.Count == 0) return;
        double score = Score(from);
        foreach (var prune in control.Prune)
        {
            string topic = prune.TopicID;
            if (!_mesh.TryGetValue(topic, out var mesh)) continue;
            PruneFromMesh(from, topic, mesh);
            // Respect the backoff the remote asks for (capped, so a peer cannot ban itself from us for years).
            if (prune.HasBackoff && prune.Backoff > 0)
                AddBackoff(from, topic, TimeSpan.FromSeconds(Math.Min(prune.Backoff, MaxRemoteBackoffSeconds)));
            else
                AddBackoff(from, topic, unsubscribe: false);
            if (prune.Peers.Count == 0) continue;
            if (score < _thresholds.AcceptPXThreshold)
            {
                LogPXIgnored(from, score);
                continue;
            }
            ConnectToExchangedPeers(prune.Peers);
        }
    }

    private const ulong MaxRemoteBackoffSeconds = 24 * 3600;

    private void ConnectToExchangedPeers(IEnumerable<PeerInfo> exchanged)
    {
        var candidates = exchanged.ToList();
        if (candidates.Count > _options.PrunePeers)
        {
            Shuffle(candidates);
            candidates.RemoveRange(_options.PrunePeers, candidates.Count - _options.PrunePeers);
        }
        foreach (var info in candidates)
        {
            PeerId peer;
            try
            {
                peer = PeerId.FromBytes(info.PeerID.Span);
            }
            catch (P2PFormatException)
            {
                continue;
            }
            if (peer == _self || _peers.ContainsKey(peer)) continue;
            SignedEnvelope? envelope = null;
            if (info.HasSignedPeerRecord)
            {
                try
                {
                    envelope = SignedEnvelope.Open(info.SignedPeerRecord.Span, PeerRecord.Domain);
                    if (PeerRecord.FromEnvelope(envelope).PeerId != peer) continue; // a record of someone else
                }
                catch (P2PFormatException e)
                {
                    LogBadPeerRecord(peer, e.Message);
                    continue;
                }
            }
            _host.Connect(peer, envelope);
        }
    }

    private void HandleIDontWant(PeerId from, ControlMessage control)
    {
        if (control.Idontwant.Count == 0) return;
        var state = _peers[from];
        if (state.IDontWantCount >= _options.MaxIDontWantMessages) return;
        state.IDontWantCount++;
        state.DontSend ??= new Dictionary<MessageId, int>();
        int total = 0;
        foreach (var idontwant in control.Idontwant)
            foreach (var rawId in idontwant.MessageIDs)
            {
                if (total++ >= _options.MaxIDontWantLength) return;
                state.DontSend[new MessageId(rawId.ToByteArray())] = _options.IDontWantMessageTtl;
            }
    }

    /// <summary>A PRUNE for the topic: with backoff (and PX if asked) for v1.1+ peers, bare for v1.0 ones.</summary>
    private ControlPrune MakePrune(PeerId peer, string topic, bool doPX, bool unsubscribe)
    {
        var prune = new ControlPrune { TopicID = topic };
        if (!Supports(peer, PeerFeatures.PeerExchange)) return prune;
        prune.Backoff = (ulong)(unsubscribe ? _options.UnsubscribeBackoff : _options.PruneBackoff).TotalSeconds;
        if (!doPX) return prune;
        foreach (var candidate in GetPeers(topic, _options.PrunePeers, p => p != peer && Score(p) >= 0))
        {
            var info = new PeerInfo { PeerID = ByteString.CopyFrom(candidate.Bytes.Span) };
            if (_host.GetSignedPeerRecord(candidate) is { } record) info.SignedPeerRecord = ByteString.CopyFrom(record);
            prune.Peers.Add(info);
        }
        return prune;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "peer {Peer} sent {Count} IHAVEs this heartbeat, over the limit; ignoring")]
    private partial void LogIHaveFlood(PeerId peer, int count);

    [LoggerMessage(Level = LogLevel.Debug, Message = "peer {Peer} asked for message {Id} too many times; ignoring")]
    private partial void LogIWantRetransmission(PeerId peer, MessageId id);

    [LoggerMessage(Level = LogLevel.Warning, Message = "direct peer {Peer} tried to GRAFT in {Topic}; answering PRUNE")]
    private partial void LogGraftFromDirectPeer(PeerId peer, string topic);

    [LoggerMessage(Level = LogLevel.Debug, Message = "ignoring peer exchange from {Peer}: score {Score} below the accept threshold")]
    private partial void LogPXIgnored(PeerId peer, double score);

    [LoggerMessage(Level = LogLevel.Debug, Message = "ignoring exchanged peer {Peer}: bad signed peer record ({Reason})")]
    private partial void LogBadPeerRecord(PeerId peer, string reason);
}
