using System.Collections.Concurrent;
using Google.Protobuf;
using Microsoft.Extensions.DependencyInjection;
using P2PStack.Consensus.Dag.Messages;
using P2PStack.IO;
using P2PStack.Neural;
using P2PStack.Neural.Messages;
using P2PStack.Transports.Memory;

namespace P2PStack.Consensus.Dag.Tests;

/// <summary>DAG consensus on real hosts: neural envelopes over Noise and Yamux on the memory transport.</summary>
public sealed class HostTests
{
    private static async Task<List<DagPeer>> StartValidatorsAsync(MemoryNetwork network, int count, Action<DagConsensusOptions>? configure = null,
        List<Identity.PrivateKey>? keys = null, Action<NeuralMeshOptions>? neural = null, Action<IServiceCollection>? extraServices = null)
    {
        keys ??= [.. Enumerable.Range(0, count).Select(_ => DagPeer.NewKey())];
        var validators = keys.Select(k => new DagValidator(Identity.PeerId.FromPublicKey(k.PublicKey))).ToList();
        var peers = new List<DagPeer>();
        foreach (var key in keys)
        {
            peers.Add(await DagPeer.StartAsync(network, key, o =>
            {
                o.Validators.AddRange(validators);
                configure?.Invoke(o);
            }, neural, extraServices));
        }
        for (int i = 0; i < peers.Count; i++)
            for (int j = i + 1; j < peers.Count; j++) await peers[i].ConnectAsync(peers[j]);
        return peers;
    }

    private static async Task<bool> AllDecided(IEnumerable<DagPeer> peers, params VertexId[] ids)
    {
        foreach (var peer in peers)
            foreach (var id in ids)
                if ((await peer.Dag.GetVertexAsync(id))?.Status is not (VertexStatus.Accepted or VertexStatus.Rejected)) return false;
        return true;
    }

    private sealed class SealProbe(ConcurrentQueue<bool> seen) : INeuralMessageHandler<ConsensusVote>
    {
        public ValueTask HandleAsync(ReceivedMessage<ConsensusVote> message, CancellationToken cancellationToken)
        {
            seen.Enqueue(message.WasSealed);
            return ValueTask.CompletedTask;
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Dag_messages_are_sealed_only_when_the_dag_asks_even_where_the_mesh_seals_by_default(bool seal)
    {
        var network = new MemoryNetwork();
        var sealedVotes = new ConcurrentQueue<bool>();
        var peers = await StartValidatorsAsync(network, 3, o => o.SealMessages = seal, neural: o => o.SealByDefault = true,
            extraServices: s => s.AddSingleton<INeuralMessageHandler<ConsensusVote>>(new SealProbe(sealedVotes)));
        try
        {
            var proposal = await peers[0].Dag.ProposeAsync("sealed or not"u8.ToArray());
            Assert.Equal(VertexStatus.Accepted, (await proposal.Decision.WaitAsync(DagPeer.Patience)).Outcome);
            Assert.NotEmpty(sealedVotes);
            Assert.All(sealedVotes, wasSealed => Assert.Equal(seal, wasSealed));
        }
        finally
        {
            foreach (var peer in peers) await peer.DisposeAsync();
        }
    }

    [Fact]
    public async Task Five_hosts_reach_the_same_finalized_set_with_conflicting_proposals_at_two_of_them()
    {
        var network = new MemoryNetwork();
        var peers = await StartValidatorsAsync(network, 5);
        try
        {
            var finalized = new List<DagDecision>();
            peers[2].Dag.Finalized += (_, e) =>
            {
                lock (finalized) finalized.Add(e.Decision);
            };
            using var watcher = peers[2].Dag.Watch();
            var key = ConflictKey.FromText("coin-1");
            var proposals = await Task.WhenAll(
                peers[0].Dag.ProposeAsync("pay alice"u8.ToArray(), [key]),
                peers[1].Dag.ProposeAsync("pay bob"u8.ToArray(), [key]),
                peers[3].Dag.ProposeAsync("virtuous"u8.ToArray()));
            var decisions = await Task.WhenAll(proposals.Select(p => p.Decision)).WaitAsync(DagPeer.Patience);
            Assert.Single(decisions.Take(2), d => d.Outcome == VertexStatus.Accepted);
            Assert.Equal(VertexStatus.Accepted, decisions[2].Outcome);
            Assert.All(decisions, d => Assert.True(d.Latency > TimeSpan.Zero && d.Local));

            var ids = proposals.Select(p => p.Id).ToArray();
            await DagPeer.WaitUntil(() => AllDecided(peers, ids), "every host to decide every proposal");
            foreach (var peer in peers)
            {
                foreach (var proposal in proposals)
                    Assert.Equal(decisions[Array.IndexOf(proposals, proposal)].Outcome, (await peer.Dag.GetVertexAsync(proposal.Id))!.Status);
                var status = await peer.Dag.GetStatusAsync();
                Assert.Equal(2, status.Accepted);
                Assert.Equal(1, status.Rejected);
                Assert.Equal(0, status.Processing);
                Assert.Equal(5, status.Members);
            }
            await DagPeer.WaitUntil(() => Task.FromResult(finalized.Count == 3), "the finalized events");
            Assert.All(finalized, d => Assert.True(d.Latency > TimeSpan.Zero));
            var events = new List<DagEvent>();
            while (events.Count(e => e.Kind is DagEventKind.Accepted or DagEventKind.Rejected) < 3)
                events.Add(await watcher.Reader.ReadAsync().AsTask().WaitAsync(DagPeer.Patience));
            Assert.Contains(events, e => e.Kind == DagEventKind.Added);
        }
        finally
        {
            foreach (var peer in peers) await peer.DisposeAsync();
        }
    }

    [Fact]
    public async Task Peers_announcing_themselves_on_the_swarm_become_the_voters()
    {
        var network = new MemoryNetwork();
        var peers = new List<DagPeer>();
        try
        {
            for (int i = 0; i < 4; i++)
                peers.Add(await DagPeer.StartAsync(network, DagPeer.NewKey(), o => o.AnnounceInterval = TimeSpan.FromMilliseconds(500)));
            // A chain: peers learn where the others are from their signed announcements, and dial them to vote.
            for (int i = 1; i < peers.Count; i++) await peers[i].ConnectAsync(peers[i - 1]);
            await DagPeer.WaitUntil(async () => (await Task.WhenAll(peers.Select(p => p.Dag.GetStatusAsync()))).All(s => s.Members == 4),
                "every peer to count four members");
            Assert.Equal("swarm", (await peers[0].Dag.GetStatusAsync()).Membership);
            var proposal = await peers[3].Dag.ProposeAsync("open membership"u8.ToArray());
            Assert.Equal(VertexStatus.Accepted, (await proposal.Decision.WaitAsync(DagPeer.Patience)).Outcome);
            await DagPeer.WaitUntil(() => AllDecided(peers, proposal.Id), "every peer to accept it");
        }
        finally
        {
            foreach (var peer in peers) await peer.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_restarted_host_recovers_its_dag_from_sqlite_and_catches_up()
    {
        var network = new MemoryNetwork();
        var directory = Path.Combine(Path.GetTempPath(), $"dag-restart-{Guid.NewGuid():N}");
        var keys = Enumerable.Range(0, 4).Select(_ => DagPeer.NewKey()).ToList();
        var paths = keys.Select((_, i) => Path.Combine(directory, $"node{i}.db")).ToList();
        int index = 0;
        var peers = await StartValidatorsAsync(network, 4, o =>
        {
            o.DatabasePath = paths[Interlocked.Increment(ref index) - 1];
            o.SyncInterval = TimeSpan.FromSeconds(1);
        }, keys);
        try
        {
            var before = await peers[3].Dag.ProposeAsync("before the restart"u8.ToArray(), [ConflictKey.FromText("k1")]);
            await DagPeer.WaitUntil(() => AllDecided(peers, before.Id), "the first proposal to be decided everywhere");

            await peers[3].DisposeAsync();
            var validators = keys.Select(k => new DagValidator(Identity.PeerId.FromPublicKey(k.PublicKey))).ToList();
            // Proposed while it is down: a quarter of the voting weight is silent, so with alpha = 15 of 20 this waits
            // for it to come back.
            var during = await peers[1].Dag.ProposeAsync("while it is down"u8.ToArray());

            peers[3] = await DagPeer.StartAsync(network, keys[3], o =>
            {
                o.Validators.AddRange(validators);
                o.DatabasePath = paths[3];
                o.SyncInterval = TimeSpan.FromSeconds(1);
            });
            var recovered = await peers[3].Dag.GetStatusAsync();
            Assert.Equal(1, recovered.Accepted); // from SQLite, before any network traffic
            Assert.Equal(VertexStatus.Accepted, (await peers[3].Dag.GetVertexAsync(before.Id))!.Status);
            // It remembers from its store that it used k1.
            await Assert.ThrowsAsync<ConflictKeyInUseException>(() => peers[3].Dag.ProposeAsync("again"u8.ToArray(), [ConflictKey.FromText("k1")]));
            for (int i = 0; i < 3; i++) await peers[3].ConnectAsync(peers[i]);
            await DagPeer.WaitUntil(() => AllDecided(peers, during.Id), "the restarted host to catch up and the proposal to be decided");
            Assert.All(await Task.WhenAll(peers.Select(p => p.Dag.GetVertexAsync(during.Id))), v => Assert.Equal(VertexStatus.Accepted, v!.Status));
        }
        finally
        {
            foreach (var peer in peers) await peer.DisposeAsync();
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Forged_and_non_member_votes_and_malformed_messages_are_refused_and_counted()
    {
        var network = new MemoryNetwork();
        var peers = await StartValidatorsAsync(network, 3);
        // An outsider: a host that is not in the validator set.
        var outsider = await DagPeer.StartAsync(network, DagPeer.NewKey(), o => o.Validators.AddRange(peers.Select(p => new DagValidator(p.PeerId))));
        try
        {
            await outsider.ConnectAsync(peers[0]);
            var victim = peers[0];
            var tag = victim.Dag.Options.ProtocolTag;

            // A well-signed vote and query from a non-member.
            long refusedBefore = (await victim.Dag.GetStatusAsync()).Counters.Refused(DagRefusal.NonMember);
            var vote = new DagMessage { RequestId = 1, Votes = new Votes { Preferred = ByteString.CopyFrom(1) } };
            await outsider.Mesh.SendAsync(NeuralDestination.ToPeer(victim.PeerId), (ConsensusVote)DagWire.ToBody(vote, tag));
            var query = new DagMessage { RequestId = 2, Query = new Query() };
            await outsider.Mesh.SendAsync(NeuralDestination.ToPeer(victim.PeerId), (ConsensusProposal)DagWire.ToBody(query, tag));
            // (The outsider's own engine also asks the validators for their frontier: refused the same way.)
            await DagPeer.WaitUntil(async () => (await victim.Dag.GetStatusAsync()).Counters.Refused(DagRefusal.NonMember) >= refusedBefore + 2,
                "the non-member's vote and query to be refused");

            // A vote forged in a validator's name: signed by the outsider's key but claiming to come from peers[1].
            var forged = new NeuralMessage
            {
                Id = ByteString.CopyFrom(Guid.NewGuid().ToByteArray()),
                SourcePeer = ByteString.CopyFrom(peers[1].PeerId.Bytes.Span),
                Destination = new Destination { Peer = ByteString.CopyFrom(victim.PeerId.Bytes.Span) },
                Priority = 5,
                TtlSeconds = 30,
                CreatedAtMs = (ulong)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
            };
            NeuralMessageTypes.SetBody(forged, DagWire.ToBody(vote, tag));
            var tampered = NeuralMessageCodec.Seal(forged, peers[1].Key);
            tampered[^1] ^= 1; // peers[1]'s own signature, broken
            var stream = await outsider.Host.OpenStreamAsync(victim.PeerId, [NeuralProtocol.ProtocolId], CancellationToken.None);
            await using (stream)
            {
                await WriteAsync(stream, NeuralMessageCodec.Seal(forged, outsider.Key));
                await WriteAsync(stream, tampered);
                await DagPeer.WaitUntil(() => Task.FromResult(victim.Mesh.DroppedCount(DropReason.SenderMismatch) == 1
                    && victim.Mesh.DroppedCount(DropReason.BadSignature) == 1), "the forged votes to be dropped by the neural layer");
            }

            // A DAG message that does not decode, and a query in a vote body.
            await outsider.Mesh.SendAsync(NeuralDestination.ToPeer(victim.PeerId), new ConsensusProposal { ProposalId = tag, Value = ByteString.CopyFrom(0xff, 0x01) });
            await outsider.Mesh.SendAsync(NeuralDestination.ToPeer(victim.PeerId), new ConsensusVote { ProposalId = tag, Round = 2, Value = query.ToByteString() });
            await DagPeer.WaitUntil(async () => (await victim.Dag.GetStatusAsync()).DecodeRefused.GetValueOrDefault("malformed") == 2,
                "the malformed messages to be refused");

            // Consensus among the validators is unaffected.
            var proposal = await victim.Dag.ProposeAsync("still working"u8.ToArray());
            Assert.Equal(VertexStatus.Accepted, (await proposal.Decision.WaitAsync(DagPeer.Patience)).Outcome);
        }
        finally
        {
            await outsider.DisposeAsync();
            foreach (var peer in peers) await peer.DisposeAsync();
        }
    }

    private static async Task WriteAsync(Network.IStream stream, byte[] envelope)
    {
        LengthPrefixed.WriteMessage(stream.Output, NeuralMessageCodec.EncodeFrame(envelope, 0));
        await stream.Output.FlushAsync();
    }
}

/// <summary>Byzantine doubles on real hosts: their engine's output rewritten on the way to the neural mesh.</summary>
public sealed class ByzantineHostTests
{
    [Fact]
    public async Task Ten_hosts_with_a_random_voter_and_a_withholder_decide_consistently()
    {
        var network = new MemoryNetwork();
        var keys = Enumerable.Range(0, 10).Select(_ => DagPeer.NewKey()).ToList();
        var validators = keys.Select(k => new DagValidator(Identity.PeerId.FromPublicKey(k.PublicKey))).ToList();
        var peers = new List<DagPeer>();
        try
        {
            foreach (var key in keys) peers.Add(await DagPeer.StartAsync(network, key, o => o.Validators.AddRange(validators)));
            for (int i = 0; i < peers.Count; i++)
                for (int j = i + 1; j < peers.Count; j++) await peers[i].ConnectAsync(peers[j]);
            var random = new Random(5);
            // Node 8 answers at random: against everything, or its honest answer with random votes taken away (the
            // filter does not see the query, so it cannot set bits without risking the padding; the seeded model's
            // random voters also vote for what they do not prefer). Node 9 votes honestly but never hands out a vertex
            // or its frontier.
            peers[8].Dag.OutboundFilter = (_, m) =>
            {
                if (m.KindCase != DagMessage.KindOneofCase.Votes) return m;
                var bits = m.Votes.Preferred.ToByteArray();
                var mask = new byte[bits.Length];
                bool against;
                lock (random)
                {
                    random.NextBytes(mask);
                    against = random.Next(2) == 0;
                }
                for (int i = 0; i < bits.Length; i++) bits[i] = against ? (byte)0 : (byte)(bits[i] & mask[i]);
                return new DagMessage { RequestId = m.RequestId, Votes = new Votes { Preferred = ByteString.CopyFrom(bits) } };
            };
            peers[9].Dag.OutboundFilter = (_, m) => m.KindCase is DagMessage.KindOneofCase.Vertices or DagMessage.KindOneofCase.Frontier ? null : m;
            var honest = peers.Take(8).ToList();

            var coin = ConflictKey.FromText("coin-3");
            var proposals = await Task.WhenAll(
                honest[0].Dag.ProposeAsync("a"u8.ToArray(), [coin]),
                honest[5].Dag.ProposeAsync("b"u8.ToArray(), [coin]),
                honest[3].Dag.ProposeAsync("virtuous"u8.ToArray()));
            var ids = proposals.Select(p => p.Id).ToArray();
            await DagPeer.WaitUntil(async () =>
            {
                foreach (var peer in honest)
                {
                    if ((await peer.Dag.GetVertexAsync(ids[2]))?.Status != VertexStatus.Accepted) return false;
                    var a = (await peer.Dag.GetVertexAsync(ids[0]))?.Status;
                    var b = (await peer.Dag.GetVertexAsync(ids[1]))?.Status;
                    if (a != VertexStatus.Accepted && b != VertexStatus.Accepted) return false;
                }
                return true;
            }, "the honest hosts to accept the virtuous proposal and one side of the conflict");
            var winners = new HashSet<VertexId>();
            foreach (var peer in honest)
                foreach (var id in ids.Take(2))
                    if ((await peer.Dag.GetVertexAsync(id))?.Status == VertexStatus.Accepted) winners.Add(id);
            Assert.Single(winners);
        }
        finally
        {
            foreach (var peer in peers) await peer.DisposeAsync();
        }
    }
}
