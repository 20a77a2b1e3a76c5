using System.Collections.Concurrent;
using Google.Protobuf;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Privacy.Onion;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Privacy.Onion.Relay;
using P2PStack.Privacy.Onion.Transport;
using P2PStack.Privacy.ShadowAddresses.Connections;
using P2PStack.Privacy.ShadowAddresses.Directory;
using P2PStack.Privacy.ShadowAddresses.Service;
using P2PStack.Protocols.Kademlia.Hosting;
using P2PStack.Protocols.Kademlia.Storage;
using P2PStack.Protocols.Ping;
using P2PStack.Transports.Memory;

namespace P2PStack.Privacy.ShadowAddresses.Tests;

/// <summary>
/// Descriptors published and resolved over onion circuits (docs/specs/shadow.md, section 5.1) on the memory transport:
/// five relays that are also DHT nodes (they store the descriptors), a service and a client with onion clients. What
/// the storing nodes record (the publisher of each record; the remote peer and address of every DHT request that
/// names a descriptor's key) is captured at the storing nodes themselves.
/// </summary>
public class DirectoryOverCircuitsTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Storing_nodes_never_learn_the_publishing_or_resolving_node_nor_link_periods_and_rotations()
    {
        await using var net = await Network.StartAsync();
        var (service, client) = (net.Service, net.Client);
        Assert.IsType<CircuitShadowDhtAccess>(service.Directory.Access);
        Assert.IsType<CircuitShadowDhtAccess>(client.Directory.Access);
        var nodes = net.All.Select(p => p.Host.PeerId).ToHashSet();

        // Three publications: one address in two periods, and the address that replaces it in a rotation.
        var key = ShadowKey.Generate();
        var rotated = ShadowKey.Generate();
        var content = ShadowDescriptorTests.Content(2);
        var period = service.Directory.CurrentPeriod;
        var operations = new List<byte[]>();
        foreach (var (k, p) in new[] { (key, period), (key, period.Next), (rotated, period) })
        {
            var (descriptor, storedOn) = await service.Directory.PublishAsync(k, content, CancellationToken.None, p).WaitAsync(Patience);
            Assert.True(storedOn >= 2, $"stored on {storedOn} peers");
            operations.Add(ShadowDescriptor.DhtKey(descriptor.BlindedKey));
        }

        // What the storing nodes recorded as publishers: never a node's identity, and nothing shared between the
        // operations (each request came from a fresh ephemeral peer).
        var publishers = operations.Select(k => net.Stored.Where(r => r.Key.AsSpan().SequenceEqual(k)).Select(r => r.Publisher).ToList()).ToList();
        for (int i = 0; i < publishers.Count; i++)
        {
            Assert.NotEmpty(publishers[i]);
            Assert.All(publishers[i], p => Assert.NotNull(p));
            Assert.All(publishers[i], p => Assert.DoesNotContain(p!, nodes));
            for (int j = 0; j < i; j++) Assert.Empty(publishers[i].Intersect(publishers[j]));
        }

        // The client resolves the current period's descriptor, also over circuits.
        var resolved = await client.Directory.ResolveAsync(key.Address, CancellationToken.None).WaitAsync(Patience);
        Assert.Equal(content.IntroductionPoints.Select(p => p.Relay), resolved.IntroductionPoints.Select(p => p.Relay));

        // Every DHT request naming a descriptor's key (the FIND_NODE lookups and PUT_VALUEs of the publications, the
        // GET_VALUEs of the resolution), as the receiving node logged it: from an ephemeral peer, over a circuit whose
        // exit is a relay, never the service's or the client's node id or address; no remote peer twice across operations.
        var requests = net.Requests.Where(r => operations.Any(k => r.Key.Span.SequenceEqual(k))).ToList();
        Assert.Contains(requests, r => r.Type == "PutValue");
        Assert.Contains(requests, r => r.Type == "GetValue");
        Assert.Contains(requests, r => r.Type == "FindNode");
        var forbidden = new[] { service, client }.SelectMany(p => p.Host.ListenAddresses.Where(a => !a.Equals(OnionAddress.Listen)).Select(a => a.ToString()).Append(p.Host.PeerId.ToString())).ToList();
        foreach (var request in requests)
        {
            Assert.DoesNotContain(request.Peer, nodes);
            Assert.EndsWith("/p2p-onion", request.Address, StringComparison.Ordinal);
            Assert.All(forbidden, f => Assert.DoesNotContain(f, request.Address, StringComparison.Ordinal));
            Assert.Contains(net.Relays, r => request.Address.Contains(r.Host.PeerId.ToString(), StringComparison.Ordinal));
        }
        var peersPerKey = requests.GroupBy(r => Convert.ToHexString(r.Key.Span)).Select(g => g.Select(r => r.Peer).ToHashSet()).ToList();
        Assert.Equal(3, peersPerKey.Count); // the current period's key of the address was asked for by the publisher and the client
        var resolverPeers = requests.Where(r => r.Type == "GetValue").Select(r => r.Peer).ToHashSet();
        Assert.Empty(resolverPeers.Intersect(publishers.SelectMany(p => p).OfType<PeerId>()));
        var byOperation = new List<HashSet<PeerId>>();
        foreach (var k in operations)
            byOperation.Add([.. requests.Where(r => r.Key.Span.SequenceEqual(k) && r.Type != "GetValue").Select(r => r.Peer)]);
        byOperation.Add(resolverPeers);
        for (int i = 0; i < byOperation.Count; i++)
            for (int j = 0; j < i; j++)
                Assert.Empty(byOperation[i].Intersect(byOperation[j]));

        // The relays carried it all as cells they cannot read: no relay saw a descriptor's key in a cell body.
        Assert.All(net.Observers, o => Assert.All(operations, k => Assert.False(o.SawBytes(k))));
        // Each operation's circuits were closed with it (the service and the client keep no preemptive circuits here).
        using var budget = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        while (service.Get<OnionClient>().Circuits.Count + client.Get<OnionClient>().Circuits.Count > 0)
        {
            if (budget.IsCancellationRequested)
                Assert.Fail(string.Join("\n", service.Get<OnionClient>().Circuits.Concat(client.Get<OnionClient>().Circuits)));
            await Task.Delay(10, CancellationToken.None);
        }
    }

    [Fact]
    public async Task A_shadow_connection_works_end_to_end_with_the_directory_over_circuits()
    {
        await using var net = await Network.StartAsync();
        var (service, client) = (net.Service, net.Client);
        var address = service.Get<ShadowAddressPool>().Generate();
        var publication = (await service.Get<ShadowPublisher>().PublishDueAsync(CancellationToken.None).WaitAsync(Patience))
            .Single(p => p.Period == service.Directory.CurrentPeriod.Number);
        Assert.Null(publication.Error);
        Assert.True(publication.StoredOn >= 2, $"stored on {publication.StoredOn} peers");

        var connection = await client.Get<ShadowConnector>().ConnectAsync(address, CancellationToken.None).WaitAsync(Patience);
        Assert.Equal(service.Get<ShadowAddressPool>().KeyOf(address)!.ServiceIdentity.PeerId, connection.RemotePeer);
        await using (var ping = await connection.OpenStreamAsync([PingProtocol.Id], CancellationToken.None).AsTask().WaitAsync(Patience))
            Assert.Equal(2, (await client.Get<PingService>().PingAsync(ping, 2, CancellationToken.None).WaitAsync(Patience)).Count);
        await connection.CloseAsync(CancellationToken.None);

        // The publication and the resolution reached the storing nodes from ephemeral peers only.
        var nodes = net.All.Select(p => p.Host.PeerId).ToHashSet();
        var shadowRecords = net.Stored.Where(r => r.Key.AsSpan().StartsWith("/shadow/"u8)).ToList();
        Assert.NotEmpty(shadowRecords);
        Assert.All(shadowRecords, r => Assert.DoesNotContain(r.Publisher!, nodes));
        var shadowRequests = net.Requests.Where(r => r.Key.Span.StartsWith("/shadow/"u8)).ToList();
        Assert.Contains(shadowRequests, r => r.Type == "GetValue");
        Assert.All(shadowRequests, r => Assert.DoesNotContain(r.Peer, nodes));
    }

    [Fact]
    public async Task A_client_that_starts_before_its_onion_directory_lists_relays_resolves_once_they_appear()
    {
        await using var net = await Network.StartAsync(freshClient: true);
        var fresh = net.FreshClient!;
        var key = ShadowKey.Generate();
        var content = ShadowDescriptorTests.Content(2);
        var (_, storedOn) = await net.Service.Directory.PublishAsync(key, content, CancellationToken.None).WaitAsync(Patience);
        Assert.True(storedOn >= 2, $"stored on {storedOn} peers");

        // The resolution starts while the client's directory is empty: it waits (without the wait it failed at once
        // with "no relay known that exits to any destination").
        Assert.Empty(fresh.Get<OnionClient>().Directory.Relays);
        var resolving = fresh.Directory.ResolveAsync(key.Address, CancellationToken.None);
        Assert.False(resolving.IsCompleted, resolving.Exception?.InnerException?.Message);
        await Task.Delay(100);
        // Two relays are not enough for a three-hop path: still waiting.
        for (int i = 0; i < 2; i++) Assert.NotNull(fresh.Get<OnionClient>().Directory.TryAdd(net.Relays[i].Get<OnionRelay>().SignedDescriptor()));
        Assert.False(resolving.IsCompleted, resolving.Exception?.InnerException?.Message);
        // The rest arrive (as a directory refresh adds them): the resolution goes on over circuits.
        for (int i = 2; i < 5; i++) Assert.NotNull(fresh.Get<OnionClient>().Directory.TryAdd(net.Relays[i].Get<OnionRelay>().SignedDescriptor()));
        var resolved = await resolving.WaitAsync(Patience);
        Assert.Equal(content.IntroductionPoints.Select(p => p.Relay), resolved.IntroductionPoints.Select(p => p.Relay));
    }

    [Fact]
    public async Task A_client_whose_onion_directory_never_lists_relays_fails_after_the_configured_wait_with_the_reason()
    {
        var wait = TimeSpan.FromSeconds(1);
        await using var client = await ShadowDirectoryTests.ShadowPeer.StartAsync(new MemoryNetwork(), TimeProvider.System, [], bootstrap: null, p2p =>
        {
            Network.Onion(p2p, relay: false);
            p2p.Services.Configure<ShadowOptions>(o => o.DirectoryWaitTimeout = wait);
        });
        try
        {
            Assert.IsType<CircuitShadowDhtAccess>(client.Directory.Access);
            var address = ShadowKey.Generate().Address;
            const string Reason = "the onion directory listed too few relays for a circuit within 1 s (0 known: no relay known that exits to any destination)";

            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            var resolve = await Assert.ThrowsAsync<NoPathException>(() => client.Directory.ResolveAsync(address, CancellationToken.None).WaitAsync(Patience));
            Assert.True(System.Diagnostics.Stopwatch.GetElapsedTime(started) >= wait * 0.9, "it failed before the wait was over");
            Assert.Equal(Reason, resolve.Message);
            Assert.Equal(1, client.Get<ShadowMetrics>().ResolveFailures); // counted as no_path

            var publish = await Assert.ThrowsAsync<NoPathException>(() =>
                client.Directory.PublishAsync(ShadowKey.Generate(), ShadowDescriptorTests.Content(1), CancellationToken.None).WaitAsync(Patience));
            Assert.Equal(Reason, publish.Message);

            // A connection to a shadow address says the same, as the reason it could not reach the DHT.
            var connect = await Assert.ThrowsAsync<ShadowConnectException>(() =>
                client.Get<ShadowConnector>().ConnectAsync(address, CancellationToken.None).WaitAsync(Patience));
            Assert.Equal("unreachable", connect.Result);
            Assert.Contains(Reason, connect.Message);
            Assert.DoesNotContain("\n", connect.Message);
        }
        finally
        {
            await client.Get<OnionClient>().DisposeAsync();
        }
    }

    [Fact]
    public async Task A_service_that_requires_padding_refuses_a_client_without_it_and_serves_one_with_it()
    {
        await using var net = await Network.StartAsync(o => o.RequirePadding = true, plainClient: true);
        var address = net.Service.Get<ShadowAddressPool>().Generate();
        var publication = (await net.Service.Get<ShadowPublisher>().PublishDueAsync(CancellationToken.None).WaitAsync(Patience))
            .Single(p => p.Period == net.Service.Directory.CurrentPeriod.Number);
        Assert.Null(publication.Error);

        // A client without the padding module reaches the service through the introduction point, but the service's
        // upgrade wants the padding filter before a muxer: the handshake fails and nothing runs.
        var refused = await Assert.ThrowsAsync<ShadowConnectException>(() =>
            net.PlainClient!.Get<ShadowConnector>().ConnectAsync(address, CancellationToken.None).WaitAsync(Patience));
        Assert.Equal("handshake", refused.Result);
        // An introduction whose handshake failed is not a use of the address (else a flood of them forces rotation).
        long Uses() => net.Service.Get<ShadowAddressPool>().List().Single(e => e.Address.Equals(address)).Uses;
        Assert.Equal(0, Uses());

        // A client that pads (the default for shadow connections) is served.
        var connection = await net.Client.Get<ShadowConnector>().ConnectAsync(address, CancellationToken.None).WaitAsync(Patience);
        var deadline = DateTime.UtcNow + Patience; // the service counts once its end of the handshake is done
        while (Uses() == 0 && DateTime.UtcNow < deadline) await Task.Delay(20);
        Assert.Equal(1, Uses());
        Assert.Contains(P2PStack.Privacy.Padding.PaddingFilter.Id, connection.Filters);
        await using (var ping = await connection.OpenStreamAsync([PingProtocol.Id], CancellationToken.None).AsTask().WaitAsync(Patience))
            Assert.Single(await net.Client.Get<PingService>().PingAsync(ping, 1, CancellationToken.None).WaitAsync(Patience));
        await connection.CloseAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Requiring_padding_without_the_padding_module_is_refused_at_composition()
    {
        var services = new ServiceCollection();
        services.AddSingleton(new MemoryNetwork());
        services.AddP2PStack(p2p =>
        {
            p2p.ListenOn("/memory/0").AddMemoryTransport().AddNoise().AddYamux().AddKademlia().AddShadowAddresses();
            p2p.AddOnion();
            p2p.AddShadowService(o => o.RequirePadding = true);
        });
        await using var provider = services.BuildServiceProvider();
        var error = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<ShadowIntroductions>());
        Assert.Contains("padding module", error.Message);
    }

    /// <summary>A DHT request as the receiving node logged it.</summary>
    internal sealed record LoggedRequest(string Type, PeerId Peer, string Address, ByteString Key);

    /// <summary>Captures the Kademlia stream handler's trace of each request (type, remote peer and address, key).</summary>
    private sealed class RequestLog(ConcurrentQueue<LoggedRequest> requests) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) =>
            categoryName == typeof(KadStreamHandler).FullName ? new Logger(requests) : Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

        public void Dispose()
        {
        }

        private sealed class Logger(ConcurrentQueue<LoggedRequest> requests) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (state is not IReadOnlyList<KeyValuePair<string, object?>> fields) return;
                var values = fields.ToDictionary(f => f.Key, f => f.Value);
                if (values.TryGetValue("Key", out var key) && key is ByteString bytes && values["Peer"] is PeerId peer)
                    requests.Enqueue(new LoggedRequest(values["Type"]!.ToString()!, peer, values["Address"]!.ToString()!, bytes));
            }
        }
    }

    /// <summary>Five relays (DHT nodes, exits, accepting circuit connections), a service and a client (onion clients,
    /// knowing every relay); every record stored and every DHT request received is recorded.</summary>
    private sealed class Network : IAsyncDisposable
    {
        public List<ShadowDirectoryTests.ShadowPeer> Relays { get; } = [];

        public List<ShadowConnectionTests.Recorder> Observers { get; } = [];

        public ConcurrentBag<DhtRecord> Stored { get; } = [];

        public ConcurrentQueue<LoggedRequest> Requests { get; } = new();

        public ShadowDirectoryTests.ShadowPeer Service { get; private set; } = null!;

        public ShadowDirectoryTests.ShadowPeer Client { get; private set; } = null!;

        /// <summary>A client whose onion directory starts empty (when asked for): it learns the relays only when the test
        /// hands them over.</summary>
        public ShadowDirectoryTests.ShadowPeer? FreshClient { get; private set; }

        /// <summary>A client without the padding module (when asked for).</summary>
        public ShadowDirectoryTests.ShadowPeer? PlainClient { get; private set; }

        public List<ShadowDirectoryTests.ShadowPeer> All { get; } = [];

        public static async Task<Network> StartAsync(Action<ShadowPublisherOptions>? publisher = null, bool plainClient = false,
            bool freshClient = false)
        {
            var net = new Network();
            var memory = new MemoryNetwork();
            try
            {
                Multiaddr? bootstrap = null;
                for (int i = 0; i < 5; i++)
                {
                    var relay = await ShadowDirectoryTests.ShadowPeer.StartAsync(memory, TimeProvider.System, net.Stored, bootstrap, p2p =>
                    {
                        Onion(p2p, relay: true);
                        p2p.Services.AddLogging(b => b.AddProvider(new RequestLog(net.Requests)).SetMinimumLevel(LogLevel.Trace));
                    });
                    bootstrap ??= relay.Address;
                    net.Relays.Add(relay);
                    // At once, so that peers identifying it later see that it accepts circuit connections.
                    await relay.Get<OnionHostedService>().StartAsync(CancellationToken.None);
                    var recorder = new ShadowConnectionTests.Recorder();
                    relay.Get<OnionRelay>().Observer = recorder;
                    net.Observers.Add(recorder);
                }
                net.Service = await ShadowDirectoryTests.ShadowPeer.StartAsync(memory, TimeProvider.System, [], bootstrap, p2p =>
                {
                    Onion(p2p, relay: false);
                    p2p.AddShadowService(o =>
                    {
                        o.IntroductionPoints = 1;
                        o.PublicationJitter = TimeSpan.Zero; // these tests publish when they ask (ShadowPublisherTests covers the delays)
                        publisher?.Invoke(o);
                    });
                });
                net.Client = await ShadowDirectoryTests.ShadowPeer.StartAsync(memory, TimeProvider.System, [], bootstrap, p2p => Onion(p2p, relay: false));
                if (plainClient)
                    net.PlainClient = await ShadowDirectoryTests.ShadowPeer.StartAsync(memory, TimeProvider.System, [], bootstrap, p2p => Onion(p2p, relay: false, padding: false));
                if (freshClient)
                    net.FreshClient = await ShadowDirectoryTests.ShadowPeer.StartAsync(memory, TimeProvider.System, [], bootstrap, p2p =>
                    {
                        Onion(p2p, relay: false);
                        p2p.Services.Configure<ShadowOptions>(o => o.DirectoryWaitTimeout = Patience);
                    });
                net.All.AddRange([.. net.Relays, net.Service, net.Client]);
                if (net.PlainClient is { } plain) net.All.Add(plain);
                foreach (var peer in net.All) await peer.Dht.RefreshAsync(CancellationToken.None).WaitAsync(Patience);
                // The service takes introduced connections through its onion listener.
                net.Service.Host.AddHandler(net.Service.Get<DestinationHandler>());
                await net.Service.Host.ListenAsync(OnionAddress.Listen, CancellationToken.None);
                foreach (var peer in net.All.Skip(net.Relays.Count))
                    for (int i = 0; i < 5; i++) Assert.NotNull(peer.Get<OnionClient>().Directory.TryAdd(net.Relays[i].Get<OnionRelay>().SignedDescriptor()));
                if (net.FreshClient is { } fresh)
                {
                    await fresh.Dht.RefreshAsync(CancellationToken.None).WaitAsync(Patience);
                    net.All.Add(fresh);
                }
            }
            catch
            {
                await net.DisposeAsync();
                throw;
            }
            return net;
        }

        internal static void Onion(IP2PBuilder p2p, bool relay, bool padding = true)
        {
            p2p.AddPing();
            p2p.AddOnion(o =>
            {
                o.Relay.Enabled = relay;
                o.EnableClient = !relay;
                o.Client.PreemptiveCircuits = 0;
                o.Client.Diversity.Enabled = false;
                o.Relay.AllowPrivateAddresses = true;
            });
            p2p.AddShadowConnections();
            if (padding) p2p.AddPadding();
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var peer in Enumerable.Reverse(All))
            {
                try
                {
                    if (Relays.Contains(peer)) await peer.Get<OnionHostedService>().StopAsync(CancellationToken.None);
                    else await peer.Get<OnionClient>().DisposeAsync();
                    await peer.DisposeAsync();
                }
                catch (Exception)
                {
                    // best effort
                }
            }
        }
    }
}
