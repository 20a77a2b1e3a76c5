using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.IO;
using P2PStack.Network;
using P2PStack.Neural.Messages;
using P2PStack.Protocols.Kademlia;
using P2PStack.Protocols.Kademlia.Validation;
using P2PStack.Transports.Memory;

namespace P2PStack.Neural.Tests;

/// <summary>
/// The attack paths of issue 18 against the neural mesh, each played by a peer with free identities: throwaway signer
/// keys filling the replay cache (1), commands from unreachable signers stalling the dispatcher (2), agent names
/// captured with a far-future seq (3).
/// </summary>
public sealed class AttackTests
{
    private static PrivateKey[] ThrowawayKeys(int count) => [.. Enumerable.Range(0, count).Select(_ => PrivateKey.Generate(KeyType.Ed25519))];

    private static async Task WriteAsync(IStream stream, NeuralMessage message, PrivateKey key)
    {
        LengthPrefixed.WriteMessage(stream.Output, NeuralMessageCodec.EncodeFrame(NeuralMessageCodec.Seal(message, key), 0));
        await stream.Output.FlushAsync();
    }

    /// <summary>Path 1, scaled down: four throwaway keys send three messages each over one connection; with a cache of 12
    /// and a burst of 6 entries per block (per peer over the memory transport), half the flood is refused and the honest
    /// peer's message on its own connection still gets in.</summary>
    [Fact]
    public async Task Throwaway_signers_on_one_connection_cannot_fill_the_replay_cache()
    {
        var network = new MemoryNetwork();
        await using var victim = await NeuralPeer.StartAsync(network, o =>
        {
            o.ReplayCacheCapacity = 12;
            o.ReplayCacheCapacityPerSource = 3;
            o.ReplayCacheBurstPerAddressBlock = 6; // the memory transport has no IP: its blocks are peers
            o.ReplayCacheRatePerAddressBlock = 0.001;
        });
        await using var attacker = await NeuralPeer.StartAsync(network);
        await using var honest = await NeuralPeer.StartAsync(network);
        await attacker.ConnectAsync(victim);
        await honest.ConnectAsync(victim);
        await victim.Mesh.RegisterAgentAsync("agent-001");

        var keys = ThrowawayKeys(4);
        await using (var stream = await attacker.Host.OpenStreamAsync(victim.PeerId, [NeuralProtocol.ProtocolId], CancellationToken.None))
        {
            foreach (var key in keys)
                for (int i = 0; i < 3; i++)
                    await WriteAsync(stream, TestMessages.Build(PeerId.FromPublicKey(key.PublicKey), new Thought { Content = "junk" },
                        ttlSeconds: 3600), key);
            await NeuralPeer.WaitUntil(() => victim.Recorder.Messages.Count + victim.DroppedTotal() == 12, "the flood to be processed");
        }
        Assert.Equal(6, victim.Recorder.Messages.Count);

        await honest.Mesh.SendAsync(NeuralDestination.ToPeer(victim.PeerId), new Thought { Content = "honest" }).WaitAsync(NeuralPeer.Patience);
        await NeuralPeer.WaitUntil(() => victim.Recorder.Messages.Any(m => m.Content == "honest"), "the honest message");
        foreach (var key in keys) key.Dispose();
    }

    /// <summary>Path 1 with many address blocks and free identities, over TCP on loopback: eight attacker blocks
    /// (127.0.2.0/24 to 127.0.9.0/24), two fresh identities each, three messages each, flood a cache of 12 that two
    /// messages of an honest sender on 127.0.1.0/24 are in. The cache evicts the messages created earliest and raises
    /// its watermark: the honest sender's next message is delivered, and a replay of the flood's first message (its
    /// entry long gone) is refused as too old, as are replays of the honest messages. With the cache shared by address
    /// block (the design before), eight blocks filled it and the honest message was refused, and a replay of an evicted
    /// message was delivered again.</summary>
    [Fact]
    public async Task A_flood_from_many_address_blocks_neither_keeps_out_a_fresh_message_nor_lets_a_replay_in()
    {
        await using var victim = await NeuralPeer.StartTcpAsync("/ip4/127.0.0.1/tcp/0", o =>
        {
            o.ReplayCacheCapacity = 12;
            o.ReplayCacheCapacityPerSource = 5;
        });
        await using var honest = await NeuralPeer.StartTcpAsync("/ip4/127.0.1.1/tcp/0");
        await victim.Mesh.RegisterAgentAsync("agent-001");
        await honest.ConnectAsync(victim);
        Assert.Equal(System.Net.IPAddress.Parse("127.0.1.1"), victim.Host.GetConnections(honest.PeerId)[0].RemoteAddress.GetIPAddress());
        var honestKey = honest.Get<ILocalIdentity>().PrivateKey;
        var honestMessages = Enumerable.Range(0, 2)
            .Select(i => TestMessages.Build(honest.PeerId, new Thought { Content = $"honest {i}" }, ttlSeconds: 3600)).ToList();
        await using (var stream = await honest.Host.OpenStreamAsync(victim.PeerId, [NeuralProtocol.ProtocolId], CancellationToken.None))
        {
            foreach (var message in honestMessages) await WriteAsync(stream, message, honestKey);
            await NeuralPeer.WaitUntil(() => victim.Recorder.Messages.Count == 2, "the honest messages");
        }

        var keys = ThrowawayKeys(16);
        var attackers = new List<NeuralPeer>();
        NeuralMessage? first = null;
        try
        {
            for (int b = 0; b < 8; b++)
            {
                var attacker = await NeuralPeer.StartTcpAsync($"/ip4/127.0.{b + 2}.1/tcp/0");
                attackers.Add(attacker);
                for (int k = 2 * b; k < 2 * b + 2; k++)
                {
                    var key = keys[k];
                    var connection = await attacker.Host.DialAsync(victim.Address,
                        new DialOptions { Identity = new P2PStack.Host.LocalIdentity(key), ForceNewConnection = true }, CancellationToken.None);
                    await using var stream = await connection.OpenStreamAsync([NeuralProtocol.ProtocolId], CancellationToken.None);
                    for (int i = 0; i < 3; i++)
                    {
                        var message = TestMessages.Build(PeerId.FromPublicKey(key.PublicKey), new Thought { Content = $"junk {k}.{i}" }, ttlSeconds: 3600);
                        first ??= message;
                        await WriteAsync(stream, message, key);
                    }
                }
            }
            await NeuralPeer.WaitUntil(() => victim.Recorder.Messages.Count + victim.DroppedTotal() == 2 + 48, "the flood to be processed");
            Assert.Equal(2 + 48, victim.Recorder.Messages.Count); // a fresh message is never refused for want of room
            Assert.Equal(12, victim.Mesh.GetStats().ReplayCacheEntries);

            // The honest sender's next message is delivered ...
            await honest.Mesh.SendAsync(NeuralDestination.ToPeer(victim.PeerId), new Thought { Content = "honest next" }).WaitAsync(NeuralPeer.Patience);
            await NeuralPeer.WaitUntil(() => victim.Recorder.Messages.Any(m => m.Content == "honest next"), "the honest sender's next message");

            // ... and replays of messages whose entries the flood pushed out are not, from any block.
            using var replayer = PrivateKey.Generate(KeyType.Ed25519);
            var replayConnection = await attackers[^1].Host.DialAsync(victim.Address,
                new DialOptions { Identity = new P2PStack.Host.LocalIdentity(replayer), ForceNewConnection = true }, CancellationToken.None);
            await using (var stream = await replayConnection.OpenStreamAsync([NeuralProtocol.ProtocolId], CancellationToken.None))
            {
                await WriteAsync(stream, first!, keys[0]);
                foreach (var message in honestMessages) await WriteAsync(stream, message, honestKey);
                await NeuralPeer.WaitUntil(() => victim.DroppedTotal() == 3, "the replays to be refused");
            }
            Assert.Equal(3, victim.Mesh.DroppedCount(DropReason.TooOld));
            Assert.Equal(2 + 48 + 1, victim.Recorder.Messages.Count);
            Assert.Single(victim.Recorder.Messages, m => m.Content == "junk 0.0"); // the replayed one, delivered once
        }
        finally
        {
            foreach (var attacker in attackers) await attacker.DisposeAsync();
            foreach (var key in keys) key.Dispose();
        }
        // Every entry given up was counted.
        long evictions = 0;
        using (var listener = new System.Diagnostics.Metrics.MeterListener())
        {
            listener.InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Name == "p2pstack_neural_replay_cache_evictions_total") l.EnableMeasurementEvents(instrument);
            };
            listener.SetMeasurementEventCallback<long>((_, value, _, _) => evictions = Math.Max(evictions, value));
            listener.Start();
            listener.RecordObservableInstruments();
        }
        Assert.Equal(2 + 48 + 1 - 12, evictions);
    }

    /// <summary>Path 1, second half: messages nobody can route (to an agent that is nowhere) take no replay-cache entry,
    /// so they cannot fill it either.</summary>
    [Fact]
    public async Task Unroutable_messages_take_no_replay_cache_entry()
    {
        var network = new MemoryNetwork();
        await using var victim = await NeuralPeer.StartAsync(network, o =>
        {
            o.ReplayCacheCapacity = 12;
            o.ReplayCacheCapacityPerSource = 3;
        });
        await using var attacker = await NeuralPeer.StartAsync(network);
        await using var honest = await NeuralPeer.StartAsync(network);
        await attacker.ConnectAsync(victim);
        await honest.ConnectAsync(victim);
        await victim.Mesh.RegisterAgentAsync("agent-001");

        var keys = ThrowawayKeys(4);
        await using (var stream = await attacker.Host.OpenStreamAsync(victim.PeerId, [NeuralProtocol.ProtocolId], CancellationToken.None))
        {
            foreach (var key in keys)
                for (int i = 0; i < 3; i++)
                    await WriteAsync(stream, TestMessages.Build(PeerId.FromPublicKey(key.PublicKey), new Thought { Content = "nowhere" },
                        to: NeuralDestination.Agent("agent-nowhere"), ttlSeconds: 3600), key);
            await NeuralPeer.WaitUntil(() => victim.Mesh.DroppedCount(DropReason.Unroutable) == 12, "the flood to be dropped as unroutable");
        }
        Assert.Equal(0, victim.Mesh.GetStats().ReplayCacheEntries);

        await honest.Mesh.SendAsync(NeuralDestination.ToPeer(victim.PeerId), new Thought { Content = "honest" }).WaitAsync(NeuralPeer.Patience);
        await NeuralPeer.WaitUntil(() => victim.Recorder.Messages.Any(m => m.Content == "honest"), "the honest message");
        Assert.Equal(0, victim.Mesh.DroppedCount(DropReason.ReplayCacheFull));
        foreach (var key in keys) key.Dispose();
    }

    /// <summary>Path 2: commands signed by keys whose peers are reachable only through a tarpit (an address that accepts
    /// and never answers) must not make the victim dial or look up to answer, and must not stall delivery of other
    /// messages while their answers are pending: answers go back only over existing connections.</summary>
    [Fact]
    public async Task Commands_from_unreachable_signers_neither_dial_nor_stall_delivery()
    {
        var network = new MemoryNetwork();
        await using var tarpit = await new MemoryTransport(network).ListenAsync(Multiaddr.Parse("/memory/0"), CancellationToken.None);
        int tarpitted = 0;
        var held = new List<IRawConnection>();
        using var stopTarpit = new CancellationTokenSource();
        var tarpitLoop = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    held.Add(await tarpit.AcceptAsync(stopTarpit.Token));
                    Interlocked.Increment(ref tarpitted);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or IOException)
            {
            }
        });

        await using var victim = await NeuralPeer.StartAsync(network, o =>
        {
            o.MaxConcurrentCommands = 1;
            o.SendTimeout = TimeSpan.FromMinutes(10);
        });
        await using var attacker = await NeuralPeer.StartAsync(network);
        await using var honest = await NeuralPeer.StartAsync(network);
        await attacker.ConnectAsync(victim);
        await honest.ConnectAsync(victim);
        await victim.Mesh.RegisterAgentAsync("agent-001");

        // Each answer would hold the only command slot for one tarpitted dial (the multistream timeout, 10 s): eight of
        // them hold delivery up far longer than the test waits.
        var keys = ThrowawayKeys(8);
        foreach (var key in keys) // as if a DHT answer had told the victim where these peers live
            victim.Host.PeerStore.AddAddresses(PeerId.FromPublicKey(key.PublicKey), [tarpit.ListenAddress], TimeSpan.FromHours(1));
        await using (var stream = await attacker.Host.OpenStreamAsync(victim.PeerId, [NeuralProtocol.ProtocolId], CancellationToken.None))
        {
            foreach (var key in keys)
                await WriteAsync(stream, TestMessages.Build(PeerId.FromPublicKey(key.PublicKey), new Command { Name = "echo", Args = { "x" } },
                    ttlSeconds: 3600), key);
            await NeuralPeer.WaitUntil(() => victim.Recorder.Messages.Count(m => m.Type == MessageType.Command) >= 1, "the first command");
        }

        await honest.Mesh.SendAsync(NeuralDestination.ToPeer(victim.PeerId), new Thought { Content = "honest" }).WaitAsync(NeuralPeer.Patience);
        await NeuralPeer.WaitUntil(() => victim.Recorder.Messages.Any(m => m.Content == "honest"), "the honest message after the commands");
        // The answers went back over the connection the commands came on (the only one leading towards their signers).
        await NeuralPeer.WaitUntil(() => victim.Mesh.GetStats().SentByType.GetValueOrDefault("response") == keys.Length,
            "every answer sent back to the attacker");
        Assert.Equal(0, Volatile.Read(ref tarpitted));

        await stopTarpit.CancelAsync();
        await tarpit.DisposeAsync();
        await tarpitLoop;
        foreach (var connection in held) await connection.DisposeAsync();
        foreach (var key in keys) key.Dispose();
    }

    /// <summary>Accepts any record in its namespace: what a hostile DHT node stores and forwards.</summary>
    private sealed class AcceptEverything : IRecordValidator
    {
        public void Validate(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) { }
        public int Select(ReadOnlySpan<byte> key, IReadOnlyList<ReadOnlyMemory<byte>> values) => 0;
    }

    /// <summary>Path 3: a record for somebody else's agent name with a seq far in the future (it would win every
    /// comparison for ever) is refused, so the owner's next publication is what resolves.</summary>
    [Fact]
    public async Task A_far_future_agent_record_cannot_capture_a_name()
    {
        var network = new MemoryNetwork();
        await using var owner = await NeuralPeer.StartAsync(network);
        await using var resolver = await NeuralPeer.StartAsync(network);
        await using var attacker = await NeuralPeer.StartAsync(network, services: s =>
            s.Configure<KademliaOptions>(o => o.Validator.Add(NeuralProtocol.AgentNamespace, new AcceptEverything())));
        await owner.ConnectAsync(resolver);
        await attacker.ConnectAsync(owner);
        await attacker.ConnectAsync(resolver);
        await NeuralPeer.WaitUntil(() => owner.Dht.RoutingTable.Count == 2 && resolver.Dht.RoutingTable.Count == 2
            && attacker.Dht.RoutingTable.Count == 2, "the DHT routing tables");

        ulong farFuture = (ulong)(DateTimeOffset.UtcNow.AddYears(10).ToUnixTimeMilliseconds()) * 1_000_000;
        var attackerKey = attacker.Get<ILocalIdentity>().PrivateKey;
        await attacker.Dht.PutValueAsync(NeuralProtocol.AgentKey("agent-b"), AgentRecords.Create("agent-b", farFuture, attackerKey),
            CancellationToken.None).WaitAsync(NeuralPeer.Patience);

        Assert.True(await owner.Mesh.RegisterAgentAsync("agent-b").WaitAsync(NeuralPeer.Patience) >= 1);
        Assert.Equal(owner.PeerId, await resolver.Mesh.ResolveAgentAsync("agent-b").WaitAsync(NeuralPeer.Patience));
    }
}

internal static class NeuralPeerAttackExtensions
{
    public static long DroppedTotal(this NeuralPeer peer) => peer.Mesh.GetStats().DroppedByTypeAndReason.Values.Sum();
}
