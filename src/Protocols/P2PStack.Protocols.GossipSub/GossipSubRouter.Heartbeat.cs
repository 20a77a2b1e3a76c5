using Google.Protobuf;
using P2PStack.Identity;
using P2PStack.Protocols.GossipSub.Pb;

namespace P2PStack.Protocols.GossipSub;

public sealed partial class GossipSubRouter
{
    /// <summary>
    /// The periodic heartbeat: score decay, penalties for broken IWANT promises, mesh maintenance (score pruning,
    /// D_low/D_high, outbound quota, opportunistic grafting), fanout maintenance, gossip emission, cache shift.
    /// </summary>
    public void Heartbeat()
    {
        _heartbeatTicks++;
        var now = _time.GetUtcNow();
        _score?.RefreshIfDue();
        _seen.Sweep(now);
        foreach (var (peer, broken) in _promises.TakeBrokenPromises(now)) _score?.AddPenalty(peer, broken);
        ResetPerHeartbeatCounters();
        if (_heartbeatTicks % 15 == 0) ClearExpiredBackoffs(now);
        if (_heartbeatTicks % _options.DirectConnectTicks == 0) ConnectDirectPeers();

        // Scores are fixed for the duration of the heartbeat.
        var scores = new Dictionary<PeerId, double>();
        double ScoreOf(PeerId p)
        {
            if (!scores.TryGetValue(p, out double s)) scores[p] = s = Score(p);
            return s;
        }

        var toGraft = new Dictionary<PeerId, List<string>>();
        var toPrune = new Dictionary<PeerId, List<string>>();
        var noPX = new HashSet<PeerId>();
        foreach (var (topic, mesh) in _mesh)
        {
            void Graft(PeerId p)
            {
                GraftInMesh(p, topic, mesh);
                Append(toGraft, p, topic);
            }
            void Prune(PeerId p)
            {
                PruneFromMesh(p, topic, mesh);
                AddBackoff(p, topic, unsubscribe: false);
                Append(toPrune, p, topic);
            }

            // Negative-score peers leave the mesh, without PX.
            foreach (var peer in mesh.Where(p => ScoreOf(p) < 0).ToList())
            {
                Prune(peer);
                noPX.Add(peer);
            }

            if (mesh.Count < _options.DLow)
            {
                foreach (var peer in GetPeers(topic, _options.D - mesh.Count,
                             p => !mesh.Contains(p) && !InBackoff(topic, p) && !_direct.Contains(p) && ScoreOf(p) >= 0))
                    Graft(peer);
            }

            if (mesh.Count > _options.DHigh)
                foreach (var peer in SelectSurplus(mesh, ScoreOf)) Prune(peer);

            if (mesh.Count >= _options.DLow)
            {
                int outbound = mesh.Count(p => _peers[p].Outbound);
                if (outbound < _options.DOut)
                    foreach (var peer in GetPeers(topic, _options.DOut - outbound,
                                 p => !mesh.Contains(p) && !InBackoff(topic, p) && !_direct.Contains(p) && _peers[p].Outbound && ScoreOf(p) >= 0))
                        Graft(peer);
            }

            if (_heartbeatTicks % _options.OpportunisticGraftTicks == 0 && mesh.Count > 1)
            {
                var sorted = mesh.Select(ScoreOf).Order().ToList();
                double median = sorted[sorted.Count / 2];
                if (median < _thresholds.OpportunisticGraftThreshold)
                    foreach (var peer in GetPeers(topic, _options.OpportunisticGraftPeers,
                                 p => !mesh.Contains(p) && !InBackoff(topic, p) && !_direct.Contains(p) && ScoreOf(p) > median))
                        Graft(peer);
            }

            EmitGossip(topic, mesh, ScoreOf);
        }

        foreach (var topic in _lastPublished.Where(e => e.Value + _options.FanoutTtl < now).Select(e => e.Key).ToList())
        {
            _lastPublished.Remove(topic);
            _fanout.Remove(topic);
        }
        foreach (var (topic, fanout) in _fanout)
        {
            _topicPeers.TryGetValue(topic, out var topicPeers);
            fanout.RemoveWhere(p => topicPeers is null || !topicPeers.Contains(p) || ScoreOf(p) < _thresholds.PublishThreshold);
            if (fanout.Count < _options.D)
                foreach (var peer in GetPeers(topic, _options.D - fanout.Count,
                             p => !fanout.Contains(p) && !_direct.Contains(p) && ScoreOf(p) >= _thresholds.PublishThreshold))
                    fanout.Add(peer);
            EmitGossip(topic, fanout, ScoreOf);
        }

        foreach (var (peer, topics) in toGraft)
        {
            var control = Control(peer);
            if (control is null) continue;
            foreach (var topic in topics) control.Graft.Add(new ControlGraft { TopicID = topic });
        }
        foreach (var (peer, topics) in toPrune)
        {
            var control = Control(peer);
            if (control is null) continue;
            foreach (var topic in topics)
                control.Prune.Add(MakePrune(peer, topic, _options.DoPeerExchange && !noPX.Contains(peer), unsubscribe: false));
        }
        Flush();
        _mcache.Shift();
    }

    /// <summary>
    /// Mesh peers to prune for oversubscription: keep the D_score best, fill up to D at random, and make sure at
    /// least D_out of the kept ones are outbound when the mesh has that many.
    /// </summary>
    private List<PeerId> SelectSurplus(HashSet<PeerId> mesh, Func<PeerId, double> scoreOf)
    {
        var peers = mesh.ToList();
        Shuffle(peers); // random order among equal scores
        peers.Sort((a, b) => scoreOf(b).CompareTo(scoreOf(a)));
        var rest = peers.GetRange(_options.DScore, peers.Count - _options.DScore);
        Shuffle(rest);
        peers.RemoveRange(_options.DScore, rest.Count);
        peers.AddRange(rest);

        int d = _options.D;
        int outbound = peers.Take(d).Count(p => _peers[p].Outbound);
        if (outbound < _options.DOut)
        {
            // Move outbound peers to the front: first those already kept, then enough from the surplus.
            void Rotate(int i)
            {
                var p = peers[i];
                peers.RemoveAt(i);
                peers.Insert(0, p);
            }
            int have = outbound;
            for (int i = 1; i < d && have > 0; i++)
                if (_peers[peers[i]].Outbound)
                {
                    Rotate(i);
                    have--;
                }
            int need = _options.DOut - outbound;
            for (int i = d; i < peers.Count && need > 0; i++)
                if (_peers[peers[i]].Outbound)
                {
                    Rotate(i);
                    need--;
                }
        }
        return peers.GetRange(d, peers.Count - d);
    }

    /// <summary>IHAVE of the topic's recent ids to max(D_lazy, factor × eligible) non-mesh peers above the gossip threshold.</summary>
    private void EmitGossip(string topic, HashSet<PeerId> exclude, Func<PeerId, double> scoreOf)
    {
        var ids = _mcache.GetGossipIds(topic);
        if (ids.Count == 0 || !_topicPeers.TryGetValue(topic, out var topicPeers)) return;
        var candidates = topicPeers
            .Where(p => !exclude.Contains(p) && !_direct.Contains(p) && IsGossipSub(p) && scoreOf(p) >= _thresholds.GossipThreshold)
            .ToList();
        int target = Math.Max(_options.DLazy, (int)(_options.GossipFactor * candidates.Count));
        Shuffle(candidates);
        if (target < candidates.Count) candidates.RemoveRange(target, candidates.Count - target);
        Shuffle(ids);
        foreach (var peer in candidates)
        {
            var peerIds = ids;
            if (ids.Count > _options.MaxIHaveLength)
            {
                // A different random subset per peer improves coverage when truncating.
                Shuffle(ids);
                peerIds = ids.GetRange(0, _options.MaxIHaveLength);
            }
            var ihave = new ControlIHave { TopicID = topic };
            foreach (var id in peerIds) ihave.MessageIDs.Add(ByteString.CopyFrom(id.Bytes.Span));
            Control(peer)?.Ihave.Add(ihave);
        }
    }

    private void ResetPerHeartbeatCounters()
    {
        foreach (var state in _peers.Values)
        {
            state.IHaveCount = 0;
            state.IAsked = 0;
            state.IDontWantCount = 0;
            if (state.DontSend is not { Count: > 0 } dontSend) continue;
            foreach (var (id, ttl) in dontSend.ToList())
            {
                if (ttl <= 1) dontSend.Remove(id);
                else dontSend[id] = ttl - 1;
            }
        }
    }

    /// <summary>Backoffs are dropped with two heartbeats of slack, so a remote clearing its own at the same moment is
    /// never early.</summary>
    private void ClearExpiredBackoffs(DateTimeOffset now)
    {
        var slack = 2 * _options.HeartbeatInterval;
        foreach (var (topic, peers) in _backoff.ToList())
        {
            foreach (var (peer, expiry) in peers.ToList())
                if (expiry + slack < now) peers.Remove(peer);
            if (peers.Count == 0) _backoff.Remove(topic);
        }
    }

    private void ConnectDirectPeers()
    {
        foreach (var peer in _direct)
            if (!_peers.ContainsKey(peer)) _host.Connect(peer, null);
    }

    private static void Append(Dictionary<PeerId, List<string>> map, PeerId peer, string topic)
    {
        if (!map.TryGetValue(peer, out var list)) map[peer] = list = [];
        list.Add(topic);
    }
}
