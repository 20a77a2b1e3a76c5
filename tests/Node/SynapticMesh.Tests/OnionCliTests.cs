using System.Diagnostics;
using System.Text.Json;

namespace SynapticMesh.Tests;

/// <summary>
/// Five real nodes on 127.0.0.1 (three onion relays, a destination, a client), started by the CLI: p2p circuit builds
/// a circuit through the relays it found in the DHT and pings the destination end to end through it.
/// </summary>
public sealed class OnionCliTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);
    private readonly List<TempHome> _homes = [];
    private readonly List<NodeProcess> _nodes = [];
    private NodeProcess _client = null!;
    private NodeProcess _destination = null!;

    public async Task InitializeAsync()
    {
        // Every node shares 127.0.0.1, so path diversity is off, as on any one-machine test network.
        var first = await StartAsync(["--onion-relay"], bootstrap: null);
        for (int i = 0; i < 2; i++) await StartAsync(["--onion-relay"], first.TcpAddress);
        _destination = await StartAsync(["--onion"], first.TcpAddress); // --onion: it also accepts circuit connections
        // The client sends cover cells on its idle circuits (the relays send none): status counts them on both sides.
        _client = await StartAsync(["--onion", "--padding-cover", "constant", "--padding-cover-rate", "20"], first.TcpAddress);
    }

    public async Task DisposeAsync()
    {
        foreach (var node in _nodes) await node.DisposeAsync();
        foreach (var home in _homes) home.Dispose();
    }

    [Fact]
    public async Task Circuit_builds_through_the_relays_pings_the_destination_and_carries_a_neural_message_end_to_end()
    {
        // Relays publish their descriptors once their DHT has peers; the client's directory fills from the DHT.
        var deadline = DateTime.UtcNow + Patience;
        while (Onion(await _client.RunJsonAsync("p2p", "status", "--detailed")).GetProperty("directoryRelays").GetInt32() < 3)
        {
            Assert.True(DateTime.UtcNow < deadline, "the client's directory never listed the three relays");
            await Task.Delay(500);
        }

        var circuit = await _client.RunJsonAsync("p2p", "circuit", _destination.PeerId, "--hops", "3");
        Assert.Equal(3, circuit.GetProperty("hops").GetInt32());
        var relays = circuit.GetProperty("relays").EnumerateArray().Select(r => r.GetString()!).ToList();
        Assert.Equal(3, relays.Distinct().Count());
        Assert.DoesNotContain(_destination.PeerId, relays);
        Assert.DoesNotContain(_client.PeerId, relays);
        Assert.True(circuit.GetProperty("buildMs").GetDouble() > 0);
        Assert.True(circuit.GetProperty("rttMs").GetDouble() > 0);
        string id = circuit.GetProperty("circuitId").GetString()!;

        var list = await _client.RunJsonAsync("p2p", "circuit", "list");
        Assert.Contains(list.EnumerateArray(), c => c.GetProperty("circuitId").GetString() == id);
        // Every relay of the circuit relayed its cells; the client's status counts the build.
        var status = Onion(await _client.RunJsonAsync("p2p", "status", "--detailed"));
        Assert.True(status.GetProperty("buildsSucceeded").GetInt64() >= 1);
        Assert.True(status.GetProperty("activeCircuits").GetInt32() >= 1);
        var relayStatus = Onion(await _nodes.Single(n => n.PeerId == relays[1]).RunJsonAsync("p2p", "status", "--detailed"));
        Assert.True(relayStatus.GetProperty("relayedCellsForward").GetInt64() > 0);
        Assert.True(relayStatus.GetProperty("relayedCellsBackward").GetInt64() > 0);
        await StatusShowsWhatTheMetricsCountAsync(relays[2]);

        await MessageViaCircuitAsync(id);

        var closed = await _client.RunJsonAsync("p2p", "circuit", "close", id);
        Assert.True(closed.GetProperty("closed").GetBoolean());
        var again = await _client.RunAsync("p2p", "circuit", "close", id);
        Assert.NotEqual(0, again.ExitCode);
        again.AssertOneLineError("no open circuit");

        var tooLong = await _client.RunAsync("p2p", "circuit", _destination.PeerId, "--hops", "9");
        Assert.NotEqual(0, tooLong.ExitCode);
        var notClient = await _nodes[0].RunAsync("p2p", "circuit", _client.PeerId);
        Assert.NotEqual(0, notClient.ExitCode);
        notClient.AssertOneLineError("--onion");
    }

    // p2p message --via circuit: the destination's listener gets the message, signed by the client's peer id, after its
    // cells crossed the circuit's relays.
    private async Task MessageViaCircuitAsync(string circuitId)
    {
        var listen = Process.Start(CliProcess.StartInfo(["p2p", "listen", "--json", "--home", _destination.Home.Path], null))!;
        try
        {
            listen.StandardInput.Close();
            using (var ready = new CancellationTokenSource(Patience))
                Assert.Equal("listening for messages (Ctrl+C to stop)", await listen.StandardError.ReadLineAsync(ready.Token));

            var cellsBefore = new Dictionary<string, long>();
            foreach (var node in _nodes.Take(3))
                cellsBefore[node.PeerId] = Onion(await node.RunJsonAsync("p2p", "status", "--detailed")).GetProperty("relayedCellsForward").GetInt64();
            var sent = await _client.RunJsonAsync("p2p", "message", _destination.PeerId, "--msg-type", "thought", "--content", "through three relays",
                "--via", "circuit", "--hops", "3");
            Assert.Equal(_destination.PeerId, sent.GetProperty("peer").GetString());
            var via = sent.GetProperty("circuit");
            Assert.Equal(3, via.GetProperty("hops").GetInt32());
            var relays = via.GetProperty("relays").EnumerateArray().Select(r => r.GetString()!).ToList();
            Assert.Equal(3, relays.Distinct().Count());
            Assert.DoesNotContain(_destination.PeerId, relays);
            // A clean circuit to the destination is reused; with several open it may be another one than the test's.
            Assert.False(string.IsNullOrEmpty(via.GetProperty("circuitId").GetString()));
            _ = circuitId;

            using (var reading = new CancellationTokenSource(Patience))
            {
                // The node may receive other messages meanwhile (its neighbours' own traffic): find this one.
                JsonElement message;
                string id = sent.GetProperty("id").GetString()!;
                do
                {
                    string line = await listen.StandardOutput.ReadLineAsync(reading.Token) ?? throw new InvalidOperationException("listen ended");
                    message = JsonDocument.Parse(line).RootElement.Clone();
                }
                while (message.GetProperty("id").GetString() != id);
                Assert.Equal("thought", message.GetProperty("type").GetString());
                Assert.Equal("through three relays", message.GetProperty("content").GetString());
                Assert.Equal(_client.PeerId, message.GetProperty("from").GetString());
            }
            // The message's cells crossed the circuit: its middle relay passed more cells on (the exit consumes them).
            var middle = _nodes.Single(n => n.PeerId == relays[1]);
            Assert.True(Onion(await middle.RunJsonAsync("p2p", "status", "--detailed")).GetProperty("relayedCellsForward").GetInt64()
                > cellsBefore[relays[1]], "the middle relay passed on no cell of the message");

            // What a circuit cannot carry is a usage error before anything is sent.
            var command = await _client.RunAsync("p2p", "message", _destination.PeerId, "--msg-type", "command", "--content", "echo hi", "--via", "circuit");
            Assert.Equal(2, command.ExitCode);
            command.AssertOneLineError("commands");
            var hopsAlone = await _client.RunAsync("p2p", "message", _destination.PeerId, "--msg-type", "thought", "--content", "x", "--hops", "2");
            Assert.Equal(2, hopsAlone.ExitCode);
            // A node without --onion cannot send through a circuit.
            var notClient = await _nodes[0].RunAsync("p2p", "message", _destination.PeerId, "--msg-type", "thought", "--content", "x", "--via", "circuit");
            Assert.NotEqual(0, notClient.ExitCode);
            notClient.AssertOneLineError("--onion");

            CliProcess.SendSigterm(listen);
            await listen.WaitForExitAsync().WaitAsync(Patience);
        }
        finally
        {
            if (!listen.HasExited) listen.Kill(entireProcessTree: true);
            listen.Dispose();
        }
    }

    // status --detailed shows the counts of the onion metrics, each where it happens: the client's build time and cover
    // cells, the exit's stream, the destination's inbound circuit connection (docs/specs/onion.md, section 10).
    private async Task StatusShowsWhatTheMetricsCountAsync(string exitPeer)
    {
        var client = Onion(await _client.RunJsonAsync("p2p", "status", "--detailed"));
        Assert.True(client.GetProperty("buildMsMean").GetDouble() > 0);
        Assert.Equal(JsonValueKind.Object, client.GetProperty("introductions").ValueKind);
        var exit = _nodes.Single(n => n.PeerId == exitPeer);
        Assert.True(Onion(await exit.RunJsonAsync("p2p", "status", "--detailed")).GetProperty("exitStreams").GetProperty("opened").GetInt64() >= 1);
        Assert.True(Onion(await _destination.RunJsonAsync("p2p", "status", "--detailed")).GetProperty("inboundCircuitConnections").GetInt64() >= 1);
        // The idle circuit carries the client's cover cells (20/s) to its last hop, which drops them.
        var deadline = DateTime.UtcNow + Patience;
        while (Onion(await _client.RunJsonAsync("p2p", "status", "--detailed")).GetProperty("coverCellsSent").GetInt64() == 0
            || Onion(await exit.RunJsonAsync("p2p", "status", "--detailed")).GetProperty("coverCellsDropped").GetInt64() == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "status showed no cover cell sent by the client and dropped by the exit");
            await Task.Delay(250);
        }
    }

    private static JsonElement Onion(JsonElement status) => status.GetProperty("onion");

    private async Task<NodeProcess> StartAsync(string[] flags, string? bootstrap)
    {
        var home = new TempHome();
        _homes.Add(home);
        string[] args = ["p2p", "init", "--home", home.Path, "--no-passphrase", "--security", "development", "--listen", "/ip4/127.0.0.1/tcp/0",
            "--onion-path-diversity", "off", .. flags];
        if (bootstrap is not null) args = [.. args, "--bootstrap", bootstrap];
        var init = await CliProcess.RunAsync(args);
        Assert.True(init.ExitCode == 0, init.Stderr);
        var node = await NodeProcess.StartAsync(home);
        _nodes.Add(node);
        return node;
    }
}
