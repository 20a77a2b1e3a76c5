using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Host.Tests;

/// <summary>The resource manager's scopes on their own: limits per scope, typed refusals, release back to zero.</summary>
public sealed class ResourceManagerTests
{
    private static readonly PeerId Alice = PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey);
    private static readonly PeerId Bob = PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey);

    private static ResourceManager Manager(Func<ResourceLimits, ResourceLimits> configure) =>
        new(configure(ResourceLimits.Unlimited));

    private static ResourceScopeStat Stat(ResourceManager manager, string name) => manager.Snapshot().Single(s => s.Name == name);

    [Fact]
    public void System_inbound_connections_are_limited_and_the_refusal_names_scope_and_limit()
    {
        using var manager = Manager(l => l with { System = new ResourceLimit { ConnectionsInbound = 2 } });
        using var first = manager.OpenConnection(Direction.Inbound);
        using var second = manager.OpenConnection(Direction.Inbound);

        var refusal = Assert.Throws<ResourceLimitExceededException>(() => manager.OpenConnection(Direction.Inbound));
        Assert.Equal("system", refusal.Scope);
        Assert.Equal("connections inbound", refusal.Resource);
        Assert.Equal(2, refusal.Limit);
        Assert.Equal(2, refusal.Used);
        Assert.Equal("resource limit exceeded: system connections inbound 2/2 (+1)", refusal.Message);
        // Outbound has its own limit.
        using var outbound = manager.OpenConnection(Direction.Outbound);
        Assert.Equal(new ResourceUsage(2, 1, 0, 0, 0), manager.System.Usage);
        Assert.Equal(1, Stat(manager, "system").Refusals);
    }

    [Fact]
    public void Transient_holds_connections_until_their_peer_is_known()
    {
        using var manager = Manager(l => l with { Transient = new ResourceLimit { Connections = 1 } });
        var connection = manager.OpenConnection(Direction.Inbound);
        Assert.Throws<ResourceLimitExceededException>(() => manager.OpenConnection(Direction.Inbound));

        connection.SetPeer(Alice); // out of transient: its slot is free again
        Assert.Equal(0, manager.Transient.Usage.Connections);
        Assert.Equal(1, manager.Peer(Alice)!.Usage.ConnectionsInbound);
        using var next = manager.OpenConnection(Direction.Inbound);
        connection.Dispose();
        Assert.Null(manager.Peer(Alice)); // an idle peer scope is forgotten
    }

    [Fact]
    public void A_peer_cannot_exceed_its_connection_limit()
    {
        using var manager = Manager(l => l with { Peer = new ResourceLimit { Connections = 2 } });
        var connections = Enumerable.Range(0, 3).Select(_ => manager.OpenConnection(Direction.Inbound)).ToArray();
        connections[0].SetPeer(Alice);
        connections[1].SetPeer(Alice);

        var refusal = Assert.Throws<ResourceLimitExceededException>(() => connections[2].SetPeer(Alice));
        Assert.Equal($"peer {Alice}", refusal.Scope);
        Assert.Equal($"resource limit exceeded: peer {Alice} connections 2/2 (+1)", refusal.Message);
        connections[2].SetPeer(Bob); // another peer has its own budget
        foreach (var connection in connections) connection.Dispose();
        Assert.True(manager.System.Usage.IsZero);
        Assert.Null(manager.Peer(Alice));
        Assert.Null(manager.Peer(Bob));
    }

    [Fact]
    public void Streams_count_in_connection_peer_and_protocol_and_return_to_zero()
    {
        using var manager = Manager(l => l with
        {
            Peer = new ResourceLimit { StreamsInbound = 2 },
            Protocols = new Dictionary<string, ResourceLimit> { ["/kad"] = new() { Streams = 1 } },
        });
        using var connection = manager.OpenConnection(Direction.Outbound);
        connection.SetPeer(Alice);
        var a = connection.OpenStream(Direction.Inbound);
        var b = connection.OpenStream(Direction.Inbound);
        var refusal = Assert.Throws<ResourceLimitExceededException>(() => connection.OpenStream(Direction.Inbound));
        Assert.Equal($"resource limit exceeded: peer {Alice} streams inbound 2/2 (+1)", refusal.Message);
        Assert.Equal(2, manager.Transient.Usage.StreamsInbound); // not negotiated yet

        a.SetProtocol("/kad");
        var second = Assert.Throws<ResourceLimitExceededException>(() => b.SetProtocol("/kad"));
        Assert.Equal("protocol /kad", second.Scope);
        b.SetProtocol("/ping");
        Assert.Equal(0, manager.Transient.Usage.Streams);
        Assert.Equal(2, connection.Usage.StreamsInbound);
        Assert.Equal(2, manager.Peer(Alice)!.Usage.StreamsInbound);

        // Outbound streams have their own count.
        var c = connection.OpenStream(Direction.Outbound);
        a.Dispose();
        b.Dispose();
        c.Dispose();
        c.Dispose(); // twice: counted once
        Assert.Equal(new ResourceUsage(0, 1, 0, 0, 0), manager.System.Usage);
        Assert.All(manager.Snapshot().Where(s => s.Kind == "protocol"), s => Assert.True(s.Usage.IsZero));
    }

    [Fact]
    public void Memory_reservations_nest_and_lower_priorities_stop_at_their_share()
    {
        using var manager = Manager(l => l with
        {
            Peer = new ResourceLimit { Memory = 1000 },
            Connection = new ResourceLimit { Memory = 800 },
        });
        using var first = manager.OpenConnection(Direction.Inbound);
        using var second = manager.OpenConnection(Direction.Inbound);
        first.SetPeer(Alice);
        second.SetPeer(Alice);

        first.ReserveMemory(400);
        Assert.False(first.TryReserveMemory(1, priority: 127)); // 401 > 800 * 128/256
        first.ReserveMemory(400); // full priority fills the connection's limit
        var connectionFull = Assert.Throws<ResourceLimitExceededException>(() => first.ReserveMemory(1));
        Assert.Equal("memory", connectionFull.Resource);
        Assert.StartsWith("connection ", connectionFull.Scope, StringComparison.Ordinal);

        var peerFull = Assert.Throws<ResourceLimitExceededException>(() => second.ReserveMemory(201));
        Assert.Equal($"resource limit exceeded: peer {Alice} memory 800/1000 (+201)", peerFull.Message);
        Assert.Equal(0, second.Usage.Memory); // a refusal counts nothing anywhere
        Assert.Equal(800, manager.System.Usage.Memory);

        first.ReleaseMemory(800);
        Assert.Throws<InvalidOperationException>(() => first.ReleaseMemory(1)); // more than it holds
        second.ReserveMemory(800);
        second.Dispose(); // closing returns what it held
        first.Dispose();
        Assert.True(manager.System.Usage.IsZero);
        Assert.Null(manager.Peer(Alice));
    }

    [Fact]
    public void A_service_reserves_within_its_own_limit_and_the_system_one()
    {
        using var manager = Manager(l => l with
        {
            System = new ResourceLimit { Memory = 1500 },
            Services = new Dictionary<string, ResourceLimit> { ["gossipsub"] = new() { Memory = 1000 } },
        });
        var gossip = manager.Service("gossipsub");
        Assert.Same(gossip, manager.Service("gossipsub"));
        gossip.ReserveMemory(1000);
        Assert.Equal("service gossipsub", Assert.Throws<ResourceLimitExceededException>(() => gossip.ReserveMemory(1)).Scope);
        manager.Service("neural").ReserveMemory(500);
        Assert.Equal("system", Assert.Throws<ResourceLimitExceededException>(() => manager.Service("neural").ReserveMemory(1)).Scope);
        gossip.ReleaseMemory(1000);
        manager.Service("neural").ReleaseMemory(500);
        Assert.True(manager.System.Usage.IsZero);
        Assert.Equal(1, manager.Snapshot().Single(s => s.Name == "service gossipsub").Refusals);
    }

    /// <summary>Each of the seven scopes: its limit is in the snapshot, and crossing it is a typed refusal naming that
    /// scope, the resource and the limit, counted on the scope's row.</summary>
    [Theory]
    [InlineData("system")]
    [InlineData("transient")]
    [InlineData("service")]
    [InlineData("protocol")]
    [InlineData("peer")]
    [InlineData("connection")]
    [InlineData("stream")]
    public void Every_scope_shows_its_limit_and_refuses_past_it_naming_scope_and_limit(string kind)
    {
        var limit = new ResourceLimit { Memory = 100 };
        using var manager = Manager(l => kind switch
        {
            "system" => l with { System = limit },
            "transient" => l with { Transient = limit },
            "service" => l with { Service = limit },
            "protocol" => l with { Protocol = limit },
            "peer" => l with { Peer = limit },
            "connection" => l with { Connection = limit },
            _ => l with { Stream = limit },
        });
        using var connection = manager.OpenConnection(Direction.Inbound);
        if (kind != "transient") connection.SetPeer(Alice);
        using var stream = connection.OpenStream(Direction.Inbound);
        if (kind != "transient") stream.SetProtocol("/kad");
        IResourceScope scope = kind switch
        {
            "service" => manager.Service("kademlia"),
            "connection" => connection,
            _ => stream, // counts in stream, connection, protocol (or transient), peer and system
        };
        string name = kind switch
        {
            "service" => "service kademlia",
            "protocol" => "protocol /kad",
            "peer" => $"peer {Alice}",
            "connection" => connection.Name,
            "stream" => stream.Name,
            _ => kind,
        };
        ResourceScopeStat Row() => manager.Snapshot().Single(s => s.Kind == kind && s.Scopes is null);

        Assert.Equal(100, Row().Limit.Memory);
        scope.ReserveMemory(60);
        Assert.Equal(60, Row().Usage.Memory);
        var refusal = Assert.Throws<ResourceLimitExceededException>(() => scope.ReserveMemory(41));
        Assert.Equal(name, refusal.Scope);
        Assert.Equal("memory", refusal.Resource);
        Assert.Equal(100, refusal.Limit);
        Assert.Equal(60, refusal.Used);
        Assert.Equal(1, Row().Refusals);
        scope.ReserveMemory(40); // up to the limit is fine
        scope.ReleaseMemory(100);
    }

    [Fact]
    public void Connections_and_streams_are_listed_as_totals_and_the_largest_few()
    {
        using var manager = Manager(l => l with
        {
            Connection = new ResourceLimit { Streams = 3 },
            Stream = new ResourceLimit { Memory = 1000 },
        });
        var connections = Enumerable.Range(0, 4).Select(_ => manager.OpenConnection(Direction.Inbound)).ToArray();
        connections[0].SetPeer(Alice);
        var streams = Enumerable.Range(0, 3).Select(_ => connections[0].OpenStream(Direction.Outbound)).ToArray();
        streams[1].SetProtocol("/kad");
        streams[1].ReserveMemory(700);
        connections[2].ReserveMemory(500);
        var refusal = Assert.Throws<ResourceLimitExceededException>(() => connections[0].OpenStream(Direction.Inbound));
        Assert.Equal(connections[0].Name, refusal.Scope);
        Assert.Equal("streams", refusal.Resource);

        var stats = manager.Snapshot(top: 2);
        var total = stats.Single(s => s.Kind == "connection" && s.Scopes is not null);
        Assert.Equal(("connections", 4, 4, 3, 1200L, 3), (total.Name, total.Scopes, total.Usage.ConnectionsInbound,
            total.Usage.StreamsOutbound, total.Usage.Memory, total.Limit.Streams));
        Assert.Equal(1, total.Refusals);
        var listed = stats.Where(s => s.Kind == "connection" && s.Scopes is null).ToList();
        Assert.Equal(2, listed.Count); // bounded: the two largest, by memory then streams
        Assert.Equal($"{connections[0].Name} inbound peer {Alice}", listed[0].Name);
        Assert.Equal($"{connections[2].Name} inbound (handshake)", listed[1].Name);
        var streamTotal = stats.Single(s => s.Kind == "stream" && s.Scopes is not null);
        Assert.Equal((3, 700L, 1000L), (streamTotal.Scopes, streamTotal.Usage.Memory, streamTotal.Limit.Memory));
        var largest = stats.First(s => s.Kind == "stream" && s.Scopes is null);
        Assert.Equal($"{streams[1].Name} outbound /kad on {connections[0].Name}", largest.Name);
        Assert.Equal(700, largest.Usage.Memory);
        Assert.DoesNotContain(manager.Snapshot(top: 0), s => s.Kind is "connection" or "stream" && s.Scopes is null);

        // Closed scopes leave the listing and the totals.
        foreach (var stream in streams) stream.Dispose();
        foreach (var connection in connections) connection.Dispose();
        Assert.Equal(0, manager.Snapshot().Single(s => s.Name == "connections").Scopes);
        Assert.Equal(0, manager.Snapshot().Single(s => s.Name == "streams").Scopes);
        Assert.True(manager.System.Usage.IsZero);
    }

    [Fact]
    public void Default_limits_scale_with_memory()
    {
        var small = ResourceLimits.Scaled(128L << 20);
        var large = ResourceLimits.Scaled(4L << 30);
        Assert.Equal(64, small.System.ConnectionsInbound);
        Assert.True(large.System.ConnectionsInbound > small.System.ConnectionsInbound);
        Assert.True(large.Peer.Memory > small.Peer.Memory);
        Assert.Equal(4L << 30, large.System.Memory);
        foreach (var limits in new[] { small, large })
        {
            Assert.True(limits.Stream.Memory <= limits.Connection.Memory);
            Assert.True(limits.Connection.Memory <= limits.Peer.Memory);
            Assert.True(limits.Peer.Memory <= limits.System.Memory);
        }
        Assert.True(ResourceLimits.DefaultMemory() >= 128L << 20);
        Assert.Equal(ResourceLimits.Scaled(1L << 30).Peer, new ResourceManagerOptions { Memory = 1L << 30 }.Effective().Peer);
    }

    [Fact]
    public void Host_limits_are_written_over_the_resource_managers_scopes_one_source_of_truth()
    {
        // Unset: the resource manager's own counts apply (go-libp2p's 8 connections per peer, 512 streams per connection).
        var defaults = new HostOptions();
        defaults.Resources.Memory = 1L << 30;
        var scaled = ResourceLimits.Scaled(1L << 30);
        var effective = defaults.EffectiveResourceLimits();
        Assert.Equal((scaled.System, scaled.Transient, scaled.Service, scaled.Protocol, scaled.Peer, scaled.Connection, scaled.Stream),
            (effective.System, effective.Transient, effective.Service, effective.Protocol, effective.Peer, effective.Connection, effective.Stream));
        Assert.Equal(8, defaults.EffectiveResourceLimits().Peer.Connections);
        Assert.Equal(512, defaults.EffectiveResourceLimits().Connection.Streams);

        // Set: they replace the matching limits, and nothing else.
        var set = new HostOptions();
        set.Resources.Memory = 1L << 30;
        set.Limits.MaxConnections = 40;
        set.Limits.MaxConnectionsPerPeer = 2;
        set.Limits.MaxStreamsPerConnection = 3;
        var limits = set.EffectiveResourceLimits();
        Assert.Equal(40, limits.System.Connections);
        Assert.Equal(new ResourceLimit { Connections = 2, ConnectionsInbound = 2, ConnectionsOutbound = 2 },
            limits.Peer with { StreamsInbound = int.MaxValue, StreamsOutbound = int.MaxValue, Streams = int.MaxValue, Memory = long.MaxValue });
        Assert.Equal(3, limits.Connection.Streams);
        Assert.Equal(ResourceLimits.Scaled(1L << 30).Transient, limits.Transient);
        Assert.Equal(ResourceLimits.Scaled(1L << 30).System.ConnectionsInbound, limits.System.ConnectionsInbound);
    }

    [Fact]
    public async Task A_third_connection_of_one_peer_is_refused_by_the_peer_scope_when_host_limits_say_two()
    {
        var network = new P2PStack.Transports.Memory.MemoryNetwork();
        await using var server = await TestPeer.StartAsync("/memory/0", network, options: o => o.Limits.MaxConnectionsPerPeer = 2);
        // Three hosts under one key: three connections of one peer id.
        var key = PrivateKey.Generate(KeyType.Ed25519);
        var clients = new List<TestPeer>();
        try
        {
            int refused = 0;
            for (int i = 0; i < 3; i++)
            {
                var client = await TestPeer.StartAsync("/memory/0", network, configure: p2p => p2p.WithIdentity(key));
                clients.Add(client);
                try
                {
                    await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
                }
                catch (Exception e) when (e is not TimeoutException)
                {
                    refused++;
                }
            }
            var peerId = PeerId.FromPublicKey(key.PublicKey);
            // The server refuses after its end of the handshake, which may come after the client's dial returned.
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            ResourceScopeStat Stat() => server.Host.Resources.Snapshot().Single(s => s.Name == $"peer {peerId}");
            while (!(Stat().Refusals == 1 && Stat().Usage.Connections == 2 && server.Host.GetConnections(peerId).Count == 2))
            {
                Assert.True(DateTime.UtcNow < deadline, "the third connection was not refused by the peer scope");
                await Task.Delay(20);
            }
            var peer = Stat();
            Assert.Equal(2, peer.Limit.Connections);
            Assert.Equal(2, peer.Usage.Connections);
            Assert.Equal(1, peer.Refusals);
            Assert.Equal(2, server.Host.GetConnections(peerId).Count);
        }
        finally
        {
            foreach (var client in clients) await client.DisposeAsync();
        }
    }
}

/// <summary>The <c>P2PStack.Resources</c> meter: refusals by scope and resource, usage and limits of bounded scopes.</summary>
public sealed class ResourceMetricsTests
{
    [Fact]
    public void Refusals_are_counted_per_scope_and_usage_and_limits_are_observed()
    {
        // A factory of its own scopes the meter to this manager: other tests' managers publish the same meter name.
        using var factory = new Metrics.HostMeterFactory();
        using var manager = new ResourceManager(ResourceLimits.Unlimited with
        {
            System = new ResourceLimit { ConnectionsInbound = 1, Memory = 1000 },
            Peer = new ResourceLimit { Memory = 10 },
        }, factory);
        var refusals = new List<(long Value, string? Scope, string? Resource)>();
        var usage = new Dictionary<(string?, string?), long>();
        var limits = new Dictionary<(string?, string?), long>();
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == "P2PStack.Resources" && ReferenceEquals(instrument.Meter.Scope, factory)) l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string? scope = null, resource = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "scope") scope = tag.Value as string;
                if (tag.Key == "resource") resource = tag.Value as string;
            }
            switch (instrument.Name)
            {
                case "p2pstack_resource_refusals_total": refusals.Add((value, scope, resource)); break;
                case "p2pstack_resource_usage": usage[(scope, resource)] = value; break;
                case "p2pstack_resource_limit": limits[(scope, resource)] = value; break;
            }
        });
        listener.Start();

        using var connection = manager.OpenConnection(Direction.Inbound);
        Assert.Throws<ResourceLimitExceededException>(() => manager.OpenConnection(Direction.Inbound));
        connection.SetPeer(PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey));
        Assert.Throws<ResourceLimitExceededException>(() => connection.ReserveMemory(11));
        manager.Service("gossipsub").ReserveMemory(100);
        listener.RecordObservableInstruments();

        Assert.Equal([(1L, "system", "connections_inbound"), (1L, "peer", "memory")], refusals);
        Assert.Equal(1, usage[("system", "connections_inbound")]);
        Assert.Equal(100, usage[("system", "memory")]);
        Assert.Equal(100, usage[("service gossipsub", "memory")]);
        Assert.Equal(1, limits[("system", "connections_inbound")]);
        Assert.Equal(1000, limits[("system", "memory")]);
        Assert.False(limits.ContainsKey(("transient", "memory"))); // unlimited: not exported
        Assert.DoesNotContain(usage.Keys, k => k.Item1!.StartsWith("peer", StringComparison.Ordinal)); // peer ids are unbounded
    }
}
