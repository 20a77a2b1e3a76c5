using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Protocols.Ping;
using P2PStack.Transports.Memory;

namespace P2PStack.Metrics.Tests;

/// <summary>A host on the memory transport with its own container-scoped exporter.</summary>
internal sealed class MeteredPeer : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    private MeteredPeer(ServiceProvider services)
    {
        _services = services;
        Exporter = services.GetRequiredService<PrometheusExporter>(); // before the host runs: counters count from here
        Host = services.GetRequiredService<PeerHost>();
    }

    public PeerHost Host { get; }

    public PrometheusExporter Exporter { get; }

    public T Get<T>() where T : notnull => _services.GetRequiredService<T>();

    public Multiaddr Address => Host.ListenAddresses[0].Encapsulate($"/p2p/{Host.PeerId}");

    public Dictionary<string, Family> Scrape() => PrometheusTextParser.Parse(Exporter.Render());

    public static async Task<MeteredPeer> StartAsync(MemoryNetwork network, bool postQuantum = true)
    {
        var services = new ServiceCollection();
        services.AddSingleton(network);
        services.AddP2PStack(p2p => p2p.ListenOn("/memory/0").AddMemoryTransport()
            .AddNoise(o => o.PostQuantum.Enabled = postQuantum).AddYamux().AddPing().AddPrometheusExporter());
        var peer = new MeteredPeer(services.BuildServiceProvider());
        await peer.Host.StartAsync(CancellationToken.None);
        return peer;
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        await _services.DisposeAsync();
    }
}

public sealed class HostMetricsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private static double Value(Dictionary<string, Family> families, string name, params (string Label, string Value)[] labels) =>
        families.TryGetValue(name, out var family)
            ? family.Samples.Where(s => labels.All(l => s.Label(l.Label) == l.Value)).Sum(s => s.Value)
            : 0;

    [Fact]
    public async Task ConnectionsBytesStreamsAndRttAfterAPing()
    {
        var network = new MemoryNetwork();
        await using var server = await MeteredPeer.StartAsync(network);
        await using var client = await MeteredPeer.StartAsync(network);

        var connection = await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Timeout);
        Assert.Equal("/noise-mlkem768-hfs/0.1.0", connection.SecurityProtocol);
        var rtts = await client.Get<PingService>().PingAsync(server.Host.PeerId, 3, CancellationToken.None).WaitAsync(Timeout);

        var c = client.Scrape();
        var s = server.Scrape();
        const string pq = "/noise-mlkem768-hfs/0.1.0";
        Assert.Equal(1, Value(c, "p2pstack_connections", ("direction", "outbound"), ("transport", "memory"), ("security", pq)));
        Assert.Equal(1, Value(s, "p2pstack_connections", ("direction", "inbound"), ("transport", "memory"), ("security", pq)));
        Assert.Equal(1, Value(c, "p2pstack_connections"));
        Assert.Equal(1, Value(s, "p2pstack_connections"));
        Assert.Equal(1, Value(c, "p2pstack_quantum_secure_connections"));
        Assert.Equal(1, Value(s, "p2pstack_quantum_secure_connections"));
        Assert.Equal(1, Value(c, "p2pstack_connected_peers"));
        Assert.Equal(1, Value(s, "p2pstack_connected_peers"));
        Assert.Equal(1, Value(c, "p2pstack_connections_opened_total", ("direction", "outbound"), ("transport", "memory")));
        Assert.Equal(1, Value(s, "p2pstack_connections_opened_total", ("direction", "inbound"), ("transport", "memory")));
        Assert.Equal(1, Value(c, "p2pstack_dial_attempts_total", ("transport", "memory")));
        Assert.Equal(0, Value(c, "p2pstack_dial_failures_total"));

        // Streams: one ping stream each way, counted per protocol and direction.
        Assert.Equal(1, Value(c, "p2pstack_streams_opened_total", ("protocol", PingProtocol.Id), ("direction", "outbound")));
        Assert.Equal(1, Value(s, "p2pstack_streams_opened_total", ("protocol", PingProtocol.Id), ("direction", "inbound")));
        Assert.Equal(0, Value(c, "p2pstack_streams", ("protocol", PingProtocol.Id))); // the client disposed its stream

        // Wire bytes: the ML-KEM-768 handshake alone carries an encapsulation key (1184 bytes) one way and a
        // ciphertext (1088 bytes) the other; nobody can consume more than the other side wrote.
        double clientSent = Value(c, "p2pstack_bytes_sent_total", ("transport", "memory"));
        double clientReceived = Value(c, "p2pstack_bytes_received_total", ("transport", "memory"));
        Assert.True(clientSent > 1184 + 3 * PingProtocol.PayloadSize, $"client sent {clientSent}");
        Assert.True(clientReceived > 1088 + 3 * PingProtocol.PayloadSize, $"client received {clientReceived}");
        // Each bound compares a side's counter with the other side's read later: the client may still be writing
        // (its stream close goes out through the muxer's writer loop), so what the server received by the time of
        // its scrape is checked against what the client had sent by a scrape taken after it.
        double serverReceived = Value(s, "p2pstack_bytes_received_total");
        Assert.True(serverReceived <= Value(client.Scrape(), "p2pstack_bytes_sent_total"), $"server received {serverReceived}");
        Assert.True(Value(s, "p2pstack_bytes_sent_total") >= clientReceived);

        // Once the connection is idle, every byte written has been consumed: the two sides agree exactly.
        await EventuallyAsync(() =>
        {
            var (c2, s2) = (client.Scrape(), server.Scrape());
            return Value(c2, "p2pstack_bytes_sent_total") == Value(s2, "p2pstack_bytes_received_total")
                && Value(s2, "p2pstack_bytes_sent_total") == Value(c2, "p2pstack_bytes_received_total")
                && Value(s2, "p2pstack_streams", ("protocol", PingProtocol.Id)) == 0;
        });

        // RTT from the peer store, for the peer the client pinged; the server never pinged.
        string serverId = server.Host.PeerId.ToString();
        double Rtt(string stat) => Value(c, "p2pstack_peer_rtt_seconds", ("peer", serverId), ("stat", stat));
        Assert.Equal(rtts[^1].TotalSeconds, Rtt("current"), 9);
        Assert.Equal(rtts.Min().TotalSeconds, Rtt("min"), 9);
        Assert.Equal(rtts.Max().TotalSeconds, Rtt("max"), 9);
        Assert.InRange(Rtt("avg"), Rtt("min"), Rtt("max"));
        Assert.Equal(4, c["p2pstack_peer_rtt_seconds"].Samples.Count);
        Assert.False(s.ContainsKey("p2pstack_peer_rtt_seconds"));
        Assert.Equal("gauge", c["p2pstack_peer_rtt_seconds"].Type);
        Assert.Equal("counter", c["p2pstack_bytes_sent_total"].Type);

        // After the disconnect the gauges drop to nothing; the counters keep their totals.
        await client.Host.DisconnectAsync(server.Host.PeerId, CancellationToken.None).AsTask().WaitAsync(Timeout);
        await EventuallyAsync(() => Value(client.Scrape(), "p2pstack_connections") == 0 && Value(server.Scrape(), "p2pstack_connections") == 0);
        var after = client.Scrape();
        Assert.Equal(0, Value(after, "p2pstack_quantum_secure_connections"));
        Assert.False(after.ContainsKey("p2pstack_peer_rtt_seconds"));
        Assert.True(Value(after, "p2pstack_bytes_sent_total") >= clientSent);
        Assert.Equal(1, Value(after, "p2pstack_connections_opened_total"));
    }

    [Fact]
    public async Task ClassicalConnectionsAreNotQuantumSecure()
    {
        var network = new MemoryNetwork();
        await using var server = await MeteredPeer.StartAsync(network, postQuantum: false);
        await using var client = await MeteredPeer.StartAsync(network);
        var connection = await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Timeout);
        Assert.Equal("/noise", connection.SecurityProtocol);
        var c = client.Scrape();
        Assert.Equal(1, Value(c, "p2pstack_connections", ("security", "/noise")));
        Assert.Equal(0, Value(c, "p2pstack_quantum_secure_connections"));
        Assert.Equal(0, Value(server.Scrape(), "p2pstack_quantum_secure_connections"));
    }

    [Fact]
    public async Task DialFailuresAreCountedByReason()
    {
        var network = new MemoryNetwork();
        await using var client = await MeteredPeer.StartAsync(network);
        await using var other = await MeteredPeer.StartAsync(network);
        var nowhere = Multiaddr.Parse("/memory/987654");
        await Assert.ThrowsAsync<IOException>(() => client.Host.DialAsync(nowhere, CancellationToken.None).AsTask().WaitAsync(Timeout));
        await Assert.ThrowsAsync<NotSupportedException>(() =>
            client.Host.DialAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/1"), CancellationToken.None).AsTask().WaitAsync(Timeout));
        var c = client.Scrape();
        Assert.Equal(1, Value(c, "p2pstack_dial_failures_total", ("transport", "memory"), ("reason", "network")));
        Assert.Equal(1, Value(c, "p2pstack_dial_failures_total", ("transport", "none"), ("reason", "no_transport")));
        Assert.Equal(2, Value(c, "p2pstack_dial_attempts_total"));
        // The other host's exporter saw none of this: exporters are scoped to their container's meters.
        Assert.Equal(0, Value(other.Scrape(), "p2pstack_dial_attempts_total"));
    }

    [Fact]
    public async Task ADialWhoseBudgetRunsOutIsCountedAsATimeoutNamingTheOption()
    {
        var network = new MemoryNetwork();
        await using var client = await MeteredPeer.StartAsync(network);
        // A listener that takes connections into its backlog and never answers: the dial waits until its budget ends.
        await using var silent = await new MemoryTransport(network).ListenAsync(Multiaddr.Parse("/memory/0"), CancellationToken.None);
        var options = new P2PStack.Network.DialOptions { Timeout = TimeSpan.FromMilliseconds(300) };

        var error = await Assert.ThrowsAsync<TimeoutException>(() =>
            client.Host.DialAsync(silent.ListenAddress, options, CancellationToken.None).AsTask().WaitAsync(Timeout));
        Assert.Contains("DialOptions.Timeout, 0.3 s", error.Message, StringComparison.Ordinal);
        var c = client.Scrape();
        Assert.Equal(1, Value(c, "p2pstack_dial_failures_total", ("transport", "memory"), ("reason", "timeout")));
        Assert.Equal(0, Value(c, "p2pstack_dial_failures_total", ("reason", "cancelled")));
    }

    [Fact]
    public async Task ADialItsCallerCancelsIsCountedAsCancelled()
    {
        var network = new MemoryNetwork();
        await using var client = await MeteredPeer.StartAsync(network);
        await using var silent = await new MemoryTransport(network).ListenAsync(Multiaddr.Parse("/memory/0"), CancellationToken.None);
        var options = new P2PStack.Network.DialOptions { Timeout = TimeSpan.FromSeconds(60) };
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            client.Host.DialAsync(silent.ListenAddress, options, cancel.Token).AsTask().WaitAsync(Timeout));
        Assert.Equal(1, Value(client.Scrape(), "p2pstack_dial_failures_total", ("transport", "memory"), ("reason", "cancelled")));
    }

    private static async Task EventuallyAsync(Func<bool> condition)
    {
        using var deadline = new CancellationTokenSource(Timeout);
        while (!condition())
        {
            deadline.Token.ThrowIfCancellationRequested();
            await Task.Delay(10, deadline.Token);
        }
    }
}
