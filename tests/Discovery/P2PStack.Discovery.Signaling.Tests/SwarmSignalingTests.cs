using System.Collections.Concurrent;
using System.Diagnostics;
using Google.Protobuf;
using P2PStack.Discovery.Signaling.Pb;
using P2PStack.Identity;
using P2PStack.IO;
using P2PStack.Records;
using P2PStack.Transports.Memory;
using Xunit.Abstractions;

namespace P2PStack.Discovery.Signaling.Tests;

public sealed class SwarmSignalingTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Key = "alpha-discovery-key";
    private readonly MemoryNetwork _network = new();
    private readonly List<SignalingPeer> _peers = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var peer in _peers) await peer.DisposeAsync();
    }

    private async Task<SignalingPeer> StartAsync(Action<SwarmSignalingOptions>? configure = null, bool withSignaling = true)
    {
        var peer = await SignalingPeer.StartAsync(_network, configure, withSignaling);
        foreach (var other in _peers) await peer.ConnectAsync(other);
        _peers.Add(peer);
        return peer;
    }

    [Fact]
    public async Task Three_members_see_each_other_a_clean_leave_is_seen_at_once_and_a_crashed_member_expires()
    {
        var nodes = new List<SignalingPeer>();
        for (int i = 0; i < 3; i++) nodes.Add(await StartAsync());
        var events = nodes.Select(_ => new ConcurrentQueue<(SwarmEvent Event, TimeSpan At)>()).ToList();
        var clock = Stopwatch.StartNew();
        foreach (var node in nodes) await node.Signaling!.JoinAsync(Key);
        var watchers = nodes.Select((n, i) => Pump(n.Signaling!.Watch(Key), events[i], clock)).ToList();

        await SignalingPeer.WaitUntil(() => nodes.All(n => n.Signaling!.GetMembers(Key).Count == 2), "every member sees the other two");
        output.WriteLine($"all three saw each other {clock.ElapsedMilliseconds} ms after the first join (announce interval 1 s)");
        var member = nodes[0].Signaling!.GetMembers(Key).Single(m => m.Peer == nodes[1].PeerId);
        Assert.Equal(nodes[1].Host.AdvertisedAddresses, member.Addresses);
        Assert.True(member.Until > DateTimeOffset.UtcNow);

        // A clean leave: the others see PeerLeft(Left) without waiting for the expiry.
        var leaveAt = clock.Elapsed;
        Assert.True(await nodes[2].Signaling!.LeaveAsync(Key));
        bool LeftCleanly((SwarmEvent Event, TimeSpan At) e) => e.Event is PeerLeft l && l.Peer == nodes[2].PeerId && l.Reason == PeerLeftReason.Left;
        // The member lists change before the watchers' pumps (tasks of their own) have queued the event: wait for both.
        await SignalingPeer.WaitUntil(() => nodes.Take(2).All(n => n.Signaling!.GetMembers(Key).Count == 1)
            && events.Take(2).All(q => q.Any(LeftCleanly)), "the leave to be seen");
        var seen = events.Take(2).Select(q => q.Single(LeftCleanly).At - leaveAt).ToList();
        output.WriteLine($"clean leave seen after {string.Join(", ", seen.Select(s => $"{s.TotalMilliseconds:0} ms"))}");

        // It joins again, then crashes: the others drop it when its last announcement's until passes (3 intervals).
        await nodes[2].Signaling!.JoinAsync(Key);
        await SignalingPeer.WaitUntil(() => nodes.Take(2).All(n => n.Signaling!.GetMembers(Key).Count == 2), "the rejoin");
        var until = nodes[0].Signaling!.GetMembers(Key).Single(m => m.Peer == nodes[2].PeerId).Until;
        var crashAt = clock.Elapsed;
        int before = events[0].Count; // the clean leave's PeerLeft is in there: only what comes after the crash counts
        await nodes[2].CrashAsync();
        bool Left((SwarmEvent Event, TimeSpan At) e) => e.Event is PeerLeft l && l.Peer == nodes[2].PeerId;
        await SignalingPeer.WaitUntil(() => nodes.Take(2).All(n => n.Signaling!.GetMembers(Key).Count == 1)
            && events[0].Skip(before).Any(Left), "the expiry");
        var expired = events[0].Skip(before).Last(Left);
        Assert.Equal(PeerLeftReason.Expired, ((PeerLeft)expired.Event).Reason);
        Assert.True(expired.Event.At >= until, "dropped before its until");
        output.WriteLine($"crashed member dropped {(expired.At - crashAt).TotalMilliseconds:0} ms after the crash (until was {(until - DateTimeOffset.UtcNow).TotalMilliseconds:0} ms from now)");
        Assert.All(nodes.Take(2), n => Assert.Equal(0, n.Signaling!.Metrics.RefusedCount("forged")));
        foreach (var w in watchers) w.Watcher.Dispose();
    }

    [Fact]
    public async Task A_newcomer_gets_announced_back_long_before_the_next_periodic_announcement()
    {
        var a = await StartAsync(o => o.AnnounceInterval = TimeSpan.FromSeconds(120));
        var b = await StartAsync(o => o.AnnounceInterval = TimeSpan.FromSeconds(120));
        await a.Signaling!.JoinAsync(Key);
        await Task.Delay(500); // a's first announcement has gone out before b exists in the swarm
        await b.Signaling!.JoinAsync(Key);
        // Without announce-back, b would learn of a only at a's next announcement, 120 s later (past this hang guard).
        await SignalingPeer.WaitUntil(() => b.Signaling.GetMembers(Key).Count == 1 && a.Signaling.GetMembers(Key).Count == 1, "announce-back");
    }

    [Fact]
    public async Task Forged_expired_overlong_and_oversized_presence_is_refused_and_counted()
    {
        var honest = await StartAsync();
        var mallory = await StartAsync(withSignaling: false);
        await honest.Signaling!.JoinAsync(Key);
        var id = SignalingProtocol.SwarmId(Key);
        string topic = SignalingProtocol.PresenceTopic(id);
        using var subscription = await mallory.Gossip.SubscribeAsync(topic);
        await SignalingPeer.WaitUntil(() => mallory.Gossip.GetPeers(topic).Contains(honest.PeerId), "mallory in the topic");
        var victim = PrivateKey.Generate(KeyType.Ed25519);
        var victimId = PeerId.FromPublicKey(victim.PublicKey);
        var now = DateTimeOffset.UtcNow;

        // Claims to be the victim, signed with mallory's own key.
        await mallory.Gossip.PublishAsync(topic, SignalingProtocol.Seal(Presence(id, victimId, now, now.AddSeconds(30)), mallory.Identity.PrivateKey));
        // The victim's genuine signature, replayed by mallory as the gossip author.
        await mallory.Gossip.PublishAsync(topic, SignalingProtocol.Seal(Presence(id, victimId, now, now.AddSeconds(30)), victim));
        // Mallory's own presence, claiming a day (the maximum is 10 minutes).
        await mallory.Gossip.PublishAsync(topic, SignalingProtocol.Seal(Presence(id, mallory.PeerId, now, now.AddDays(1)), mallory.Identity.PrivateKey));
        // Oversized: addresses padding the envelope past 4096 bytes.
        var big = Presence(id, mallory.PeerId, now, now.AddSeconds(30));
        for (int i = 0; i < 20; i++) big.Hosts.Add(ByteString.CopyFrom(new byte[300]));
        await mallory.Gossip.PublishAsync(topic, SignalingProtocol.Seal(big, mallory.Identity.PrivateKey));
        // Not a presence envelope at all.
        await mallory.Gossip.PublishAsync(topic, new byte[] { 1, 2, 3 });

        var metrics = honest.Signaling.Metrics;
        await SignalingPeer.WaitUntil(() => metrics.RefusedCount("forged") == 2 && metrics.RefusedCount("ttl") == 1
            && metrics.RefusedCount("oversized") == 1 && metrics.RefusedCount("bad_signature") == 1, "every refusal counted");
        Assert.Empty(honest.Signaling.GetMembers(Key));

        // An honest announcement of the same peer is still accepted.
        await mallory.Gossip.PublishAsync(topic, SignalingProtocol.Seal(Presence(id, mallory.PeerId, now, now.AddSeconds(30)), mallory.Identity.PrivateKey));
        await SignalingPeer.WaitUntil(() => honest.Signaling.GetMembers(Key).Count == 1, "the honest announcement");
    }

    [Fact]
    public async Task A_host_relays_a_swarm_for_a_light_peer_answers_with_the_members_refuses_over_its_limits_and_keeps_a_grace_period()
    {
        var host = await StartAsync(o =>
        {
            o.MaxServedSwarmsPerPeer = 2;
            o.GracePeriod = TimeSpan.FromSeconds(1);
        });
        var member = await StartAsync();
        await member.Signaling!.JoinAsync(Key);
        // The host has not joined: it learns the members only once it relays the swarm. A light peer without signaling:
        var light = await SignalingPeer.StartAsync(_network, withSignaling: false);
        _peers.Add(light);
        await light.ConnectAsync(host);
        var id = SignalingProtocol.SwarmId(Key);
        string topic = SignalingProtocol.PresenceTopic(id);

        var stream = await light.Host.OpenStreamAsync(host.PeerId, [SignalingProtocol.HostProtocolId], CancellationToken.None);
        await using (stream)
        {
            var first = await RequestAsync(stream, new SignalRequest { Serve = new() { Swarm = ByteString.CopyFrom(id) } });
            Assert.Equal(SignalResponse.Types.Status.Ok, first.Status);
            Assert.Contains(topic, host.Gossip.GetTopics());
            // Once the member's next announcement reached the host, a Serve answers with it.
            SignalResponse again = first;
            await SignalingPeer.WaitUntil(() =>
            {
                again = RequestAsync(stream, new SignalRequest { Serve = new() { Swarm = ByteString.CopyFrom(id) } }).GetAwaiter().GetResult();
                return again.Members.Count == 1;
            }, "the host to know the member");
            var presence = SignalingProtocol.Open(again.Members[0].Span, id, DateTimeOffset.UtcNow, new SwarmSignalingOptions());
            Assert.Equal(member.PeerId, presence.Peer);

            var second = await RequestAsync(stream, new SignalRequest { Serve = new() { Swarm = ByteString.CopyFrom(SignalingProtocol.SwarmId("b")) } });
            Assert.Equal(SignalResponse.Types.Status.Ok, second.Status);
            var third = await RequestAsync(stream, new SignalRequest { Serve = new() { Swarm = ByteString.CopyFrom(SignalingProtocol.SwarmId("c")) } });
            Assert.Equal(SignalResponse.Types.Status.ELimit, third.Status);
            var invalid = await RequestAsync(stream, new SignalRequest { Serve = new() { Swarm = ByteString.CopyFrom(1, 2, 3) } });
            Assert.Equal(SignalResponse.Types.Status.EInvalid, invalid.Status);
            Assert.Equal(1, host.Signaling!.Metrics.RefusedCount("serve_limit"));
            Assert.Equal(1, host.Signaling.Metrics.RefusedCount("malformed"));
            await stream.Output.CompleteAsync();
        }
        // The stream ended (a reload): the relay stays for the grace period, then ends.
        await Task.Delay(200);
        Assert.Contains(topic, host.Gossip.GetTopics());
        await SignalingPeer.WaitUntil(() => !host.Gossip.GetTopics().Contains(topic), "the end of the grace period");
    }

    [Fact]
    public async Task A_signaling_stream_without_a_first_request_is_reset_after_the_timeout_and_one_that_served_a_swarm_outlives_it()
    {
        var host = await StartAsync(o => o.FirstRequestTimeout = TimeSpan.FromMilliseconds(500));
        var light = await SignalingPeer.StartAsync(_network, withSignaling: false);
        _peers.Add(light);
        await light.ConnectAsync(host);
        var id = SignalingProtocol.SwarmId(Key);

        // A silent stream: the host resets it once the first request is overdue, and counts it.
        var silent = await light.Host.OpenStreamAsync(host.PeerId, [SignalingProtocol.HostProtocolId], CancellationToken.None);
        await using (silent)
        {
            var ended = await Record.ExceptionAsync(async () =>
            {
                var read = await silent.Input.ReadAsync().AsTask().WaitAsync(SignalingPeer.Patience);
                Assert.True(read.IsCompleted, "the host ended the silent stream");
            });
            Assert.True(ended is null or IOException, $"the silent stream ended by a reset or an end, not {ended}");
            await SignalingPeer.WaitUntil(() => host.Signaling!.Metrics.RefusedCount("idle") == 1, "the idle refusal counted");
        }

        // A stream that made its first request in time lives on past the timeout.
        var active = await light.Host.OpenStreamAsync(host.PeerId, [SignalingProtocol.HostProtocolId], CancellationToken.None);
        await using (active)
        {
            var first = await RequestAsync(active, new SignalRequest { Serve = new() { Swarm = ByteString.CopyFrom(id) } });
            Assert.Equal(SignalResponse.Types.Status.Ok, first.Status);
            await Task.Delay(TimeSpan.FromSeconds(1.5));
            var later = await RequestAsync(active, new SignalRequest { Release = new() { Swarm = ByteString.CopyFrom(id) } });
            Assert.Equal(SignalResponse.Types.Status.Ok, later.Status);
            Assert.Equal(1, host.Signaling!.Metrics.RefusedCount("idle"));
            await active.Output.CompleteAsync();
        }
    }

    [Fact]
    public async Task Hosts_that_know_only_a_bootstrap_peer_find_each_other_through_the_rendezvous_CID()
    {
        var bootstrap = await SignalingPeer.StartAsync(_network, withDht: true);
        _peers.Add(bootstrap);
        var a = await SignalingPeer.StartAsync(_network, withDht: true);
        _peers.Add(a);
        var c = await SignalingPeer.StartAsync(_network, withDht: true);
        _peers.Add(c);
        await a.ConnectAsync(bootstrap);
        await c.ConnectAsync(bootstrap);
        var dhtA = a.Get<P2PStack.Protocols.Kademlia.KademliaDht>();
        var dhtC = c.Get<P2PStack.Protocols.Kademlia.KademliaDht>();
        Assert.Empty(a.Host.GetConnections(c.PeerId));
        // Each provides the CID and dials the providers it finds that it is not connected to (the DHT lookup itself may
        // already have connected them: c is one of the closest peers in a network this small).
        var cid = SignalingProtocol.RendezvousCid(a.Signaling!.Options.NetworkName);
        await SignalingPeer.WaitUntil(() =>
        {
            a.Signaling.RendezvousAsync(dhtA, CancellationToken.None).GetAwaiter().GetResult();
            c.Signaling!.RendezvousAsync(dhtC, CancellationToken.None).GetAwaiter().GetResult();
            var providers = dhtA.FindProvidersAsync(cid, CancellationToken.None).GetAwaiter().GetResult();
            return providers.Any(p => p.Peer == c.PeerId) && a.Host.GetConnections(c.PeerId).Count > 0;
        }, "a finds c under the rendezvous CID and is connected to it");
    }

    /// <summary>
    /// A light peer that writes requests and never reads: the answers fill its stream's window, the host waits to flush
    /// and stops reading that stream, and the peer's own writes stop. Meanwhile another peer, and another stream of the
    /// same peer over the same connection, are answered: the stuck stream holds no writer or lock anyone else needs.
    /// </summary>
    [Fact]
    public async Task A_light_peer_that_stops_reading_stalls_only_its_own_stream()
    {
        // The stall lasts until the answer stall timeout; far beyond this test here (the cut is tested below).
        var host = await StartAsync(o => o.AnswerStallTimeout = TimeSpan.FromMinutes(10));
        var member = await StartAsync();
        await member.Signaling!.JoinAsync(Key);
        var stuck = await SignalingPeer.StartAsync(_network, withSignaling: false);
        _peers.Add(stuck);
        await stuck.ConnectAsync(host);
        var other = await SignalingPeer.StartAsync(_network, withSignaling: false);
        _peers.Add(other);
        await other.ConnectAsync(host);
        var serve = new SignalRequest { Serve = new() { Swarm = ByteString.CopyFrom(SignalingProtocol.SwarmId(Key)) } };

        var otherStream = await other.Host.OpenStreamAsync(host.PeerId, [SignalingProtocol.HostProtocolId], CancellationToken.None);
        await using var _ = otherStream;
        // Every answer carries the member's announcement (hundreds of bytes), so a few hundred fill a window of 256 KiB.
        await SignalingPeer.WaitUntil(() => RequestAsync(otherStream, serve).GetAwaiter().GetResult().Members.Count == 1, "the host to know the member");

        var stuckStream = await stuck.Host.OpenStreamAsync(host.PeerId, [SignalingProtocol.HostProtocolId], CancellationToken.None);
        using var stop = new CancellationTokenSource();
        long written = 0;
        var writer = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    // In batches: the host's receive window may have grown (yamux auto-tuning) to megabytes of requests.
                    for (int i = 0; i < 1000; i++) LengthPrefixed.WriteMessage(stuckStream.Output, serve);
                    await stuckStream.Output.FlushAsync(stop.Token);
                    Interlocked.Add(ref written, 1000);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or IOException or ObjectDisposedException)
            {
                // stopped by the test
            }
        });
        // Stalled: no request went out for a second, the host's window for them used up (the host stops reading the
        // stream for good once its answers fill the peer's window: only its flush holds it).
        long windowOfRequests = 256 * 1024 / (serve.CalculateSize() + 1);
        long last = -1;
        await SignalingPeer.WaitUntil(() =>
        {
            long now = Interlocked.Read(ref written);
            bool stalled = now == last && now > 0;
            last = now;
            Thread.Sleep(1000);
            return stalled;
        }, "the stuck stream's writes to stop");
        output.WriteLine($"the stuck peer wrote {last} requests (in batches of 1000; {windowOfRequests} fill a window) before the host stopped reading them");

        var answer = await RequestAsync(otherStream, serve);
        Assert.Equal((SignalResponse.Types.Status.Ok, 1), (answer.Status, answer.Members.Count));
        var sameConnection = await stuck.Host.OpenStreamAsync(host.PeerId, [SignalingProtocol.HostProtocolId], CancellationToken.None);
        await using (sameConnection)
        {
            var alsoAnswered = await RequestAsync(sameConnection, serve);
            Assert.Equal((SignalResponse.Types.Status.Ok, 1), (alsoAnswered.Status, alsoAnswered.Members.Count));
        }

        stop.Cancel();
        stuckStream.Reset();
        await writer.WaitAsync(SignalingPeer.Patience);
        await stuckStream.DisposeAsync();
    }

    /// <summary>
    /// A light peer that never reads its answers: once they fill its stream's window, the host's next answer waits, and
    /// after <see cref="SwarmSignalingOptions.AnswerStallTimeout"/> without progress the host resets the stream and counts it (<c>stalled</c>)
    /// instead of holding the answer as long as the connection lives. The connection itself is still served.
    /// </summary>
    [Fact]
    public async Task A_light_peer_that_never_reads_its_answers_is_cut_off_after_the_write_timeout_and_counted()
    {
        // Long enough that the small answers of a reading stream are never cut under CI load; short enough for the test.
        var host = await StartAsync(o => o.AnswerStallTimeout = TimeSpan.FromSeconds(3));
        var member = await StartAsync();
        await member.Signaling!.JoinAsync(Key);
        var stuck = await SignalingPeer.StartAsync(_network, withSignaling: false);
        _peers.Add(stuck);
        await stuck.ConnectAsync(host);
        var serve = new SignalRequest { Serve = new() { Swarm = ByteString.CopyFrom(SignalingProtocol.SwarmId(Key)) } };
        var probe = await stuck.Host.OpenStreamAsync(host.PeerId, [SignalingProtocol.HostProtocolId], CancellationToken.None);
        await using (probe)
        {
            // Answers of hundreds of bytes (the member's announcement): a few hundred fill the stream's window.
            await SignalingPeer.WaitUntil(() => RequestAsync(probe, serve).GetAwaiter().GetResult().Members.Count == 1, "the host to know the member");
            await probe.Output.CompleteAsync();
        }

        var stuckStream = await stuck.Host.OpenStreamAsync(host.PeerId, [SignalingProtocol.HostProtocolId], CancellationToken.None);
        long written = 0;
        var writer = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    for (int i = 0; i < 1000; i++) LengthPrefixed.WriteMessage(stuckStream.Output, serve);
                    var flush = await stuckStream.Output.FlushAsync();
                    if (flush.IsCompleted) return null;
                    Interlocked.Add(ref written, 1000);
                }
            }
            catch (Exception e)
            {
                return e;
            }
        });

        await SignalingPeer.WaitUntil(() => host.Signaling!.Metrics.RefusedCount("stalled") == 1, "the stalled stream counted");
        // The reset reaches the peer: its writes, held by the host's window for requests, fail instead of waiting forever.
        var ended = await writer.WaitAsync(SignalingPeer.Patience);
        output.WriteLine($"the peer wrote {Interlocked.Read(ref written)} requests before the host cut the stream: {ended?.GetType().Name}: {ended?.Message}");
        Assert.True(ended is IOException or ObjectDisposedException, $"the peer's writes end with the reset, not {ended}");
        Assert.Equal(1, host.Signaling!.Metrics.RefusedCount("stalled"));
        await stuckStream.DisposeAsync();

        // Only that stream was cut: the same connection is served as before.
        var again = await stuck.Host.OpenStreamAsync(host.PeerId, [SignalingProtocol.HostProtocolId], CancellationToken.None);
        await using (again)
        {
            var answer = await RequestAsync(again, serve);
            Assert.Equal((SignalResponse.Types.Status.Ok, 1), (answer.Status, answer.Members.Count));
        }
    }

    /// <summary>
    /// A Serve answer stays within <see cref="SwarmSignalingOptions.MaxServeAnswerSize"/>: members beyond it are left out,
    /// counted in <c>omitted</c> and named in <c>detail</c> (they reach the peer with their next announcements), instead
    /// of an answer of up to MaxMembersPerSwarm x MaxPresenceSize bytes.
    /// </summary>
    [Fact]
    public async Task A_serve_answer_over_the_size_limit_leaves_members_out_and_says_how_many()
    {
        const int limit = 8192;
        var host = await StartAsync(o => o.MaxServeAnswerSize = limit);
        var light = await SignalingPeer.StartAsync(_network, withSignaling: false);
        _peers.Add(light);
        await light.ConnectAsync(host);
        var id = SignalingProtocol.SwarmId(Key);
        string topic = SignalingProtocol.PresenceTopic(id);
        var serve = new SignalRequest { Serve = new() { Swarm = ByteString.CopyFrom(id) } };
        var stream = await light.Host.OpenStreamAsync(host.PeerId, [SignalingProtocol.HostProtocolId], CancellationToken.None);
        await using (stream)
        {
            Assert.Empty((await RequestAsync(stream, serve)).Members); // the host relays the topic from now on

            // Four members whose announcements are about 3 KiB each (padded with hosts): two fit in 8 KiB.
            var now = DateTimeOffset.UtcNow;
            var subscriptions = new List<IDisposable>();
            for (int i = 0; i < 4; i++)
            {
                var big = await StartAsync(withSignaling: false);
                subscriptions.Add(await big.Gossip.SubscribeAsync(topic));
                await SignalingPeer.WaitUntil(() => big.Gossip.GetPeers(topic).Contains(host.PeerId), "the member in the topic");
                var presence = Presence(id, big.PeerId, now, now.AddMinutes(1));
                for (int h = 0; h < 10; h++) presence.Hosts.Add(ByteString.CopyFrom(new byte[300]));
                await big.Gossip.PublishAsync(topic, SignalingProtocol.Seal(presence, big.Identity.PrivateKey));
            }

            SignalResponse answer = null!;
            await SignalingPeer.WaitUntil(() =>
            {
                answer = RequestAsync(stream, serve).GetAwaiter().GetResult();
                return answer.Members.Count + (int)answer.Omitted == 4;
            }, "the host to know the four members");
            output.WriteLine($"answer of {answer.CalculateSize()} bytes: {answer.Members.Count} members, {answer.Omitted} omitted: {answer.Detail}");
            Assert.Equal(SignalResponse.Types.Status.Ok, answer.Status);
            Assert.True(answer.CalculateSize() <= limit, $"an answer of {answer.CalculateSize()} bytes is over the limit of {limit}");
            Assert.Equal((2, 2u), (answer.Members.Count, answer.Omitted));
            Assert.Contains("2 of 4 members left out", answer.Detail);
            Assert.All(answer.Members, m => SignalingProtocol.Open(m.Span, id, DateTimeOffset.UtcNow, new SwarmSignalingOptions()));
            Assert.True(host.Signaling!.Metrics.TruncatedAnswers >= 1);
            foreach (var s in subscriptions) s.Dispose();
            await stream.Output.CompleteAsync();
        }
    }

    private static Presence Presence(byte[] swarm, PeerId peer, DateTimeOffset since, DateTimeOffset until) => new()
    {
        Swarm = ByteString.CopyFrom(swarm),
        Peer = ByteString.CopyFrom(peer.Bytes.Span),
        Kind = Pb.Presence.Types.Kind.Available,
        SinceMs = (ulong)since.ToUnixTimeMilliseconds(),
        UntilMs = (ulong)until.ToUnixTimeMilliseconds(),
        Seq = PeerRecord.NextTimestampSeq(),
    };

    private static async Task<SignalResponse> RequestAsync(Network.IStream stream, SignalRequest request)
    {
        LengthPrefixed.WriteMessage(stream.Output, request);
        await stream.Output.FlushAsync();
        return await LengthPrefixed.ReadMessageAsync(stream.Input, 1 << 20, b => SignalResponse.Parser.ParseFrom(b), CancellationToken.None)
            .AsTask().WaitAsync(SignalingPeer.Patience);
    }

    private static (SwarmWatcher Watcher, Task Pump) Pump(SwarmWatcher watcher, ConcurrentQueue<(SwarmEvent, TimeSpan)> into, Stopwatch clock) =>
        (watcher, Task.Run(async () =>
        {
            await foreach (var e in watcher) into.Enqueue((e, clock.Elapsed));
        }));
}
