using System.Diagnostics;
using System.Text.Json;

namespace SynapticMesh.Tests;

/// <summary>Two running nodes, connected, for the neural messaging commands.</summary>
public sealed class TwoMeshNodes : IAsyncLifetime
{
    private readonly TempHome _homeA = new();
    private readonly TempHome _homeB = new();

    public NodeProcess A { get; private set; } = null!;

    public NodeProcess B { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        foreach (var home in new[] { _homeA, _homeB })
        {
            var init = await CliProcess.RunAsync(["p2p", "init", "--home", home.Path, "--no-passphrase", "--listen", "/ip4/127.0.0.1/tcp/0"]);
            Assert.True(init.ExitCode == 0, init.Stderr);
        }
        A = await NodeProcess.StartAsync(_homeA);
        B = await NodeProcess.StartAsync(_homeB);
        await B.RunJsonAsync("p2p", "connect", A.TcpAddress);
    }

    public async Task DisposeAsync()
    {
        if (A is not null) await A.DisposeAsync();
        if (B is not null) await B.DisposeAsync();
        _homeA.Dispose();
        _homeB.Dispose();
    }
}

public sealed class NeuralCliTests(TwoMeshNodes nodes) : IClassFixture<TwoMeshNodes>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Listen_as_an_agent_receives_every_type_sent_by_name_from_the_other_node()
    {
        var testStarted = DateTimeOffset.UtcNow.AddSeconds(-1); // receivedAt has second precision at worst
        var listen = Process.Start(CliProcess.StartInfo(["p2p", "listen", "--agent", "agent-001", "--json", "--home", nodes.A.Home.Path], null))!;
        try
        {
            listen.StandardInput.Close();
            using (var ready = new CancellationTokenSource(Patience))
            {
                string? notice = await listen.StandardError.ReadLineAsync(ready.Token);
                Assert.Equal("listening as agent agent-001 (Ctrl+C to stop)", notice);
            }

            // The first send may race the DHT tables filling after connect: retry resolution failures only, briefly.
            var first = await SendAsync("agent-001", "thought", "hello mesh", "--priority", "9", "--ttl", "30");
            Assert.Equal("thought", first.GetProperty("type").GetString());
            Assert.Equal(nodes.A.PeerId, first.GetProperty("peer").GetString());
            var expected = new List<(string Id, string Type, string Content)> { (first.GetProperty("id").GetString()!, "thought", "hello mesh") };
            foreach (var type in new[] { "coordination", "sync", "proposal", "vote", "health", "metrics" })
            {
                var sent = await SendAsync("agent-001", type, $"{type} text");
                expected.Add((sent.GetProperty("id").GetString()!, type, $"{type} text"));
            }
            // A command waits for the node's answer; the response type needs the command it answers.
            var command = await SendAsync("agent-001", "command", "echo hi there");
            var reply = command.GetProperty("response");
            Assert.True(reply.GetProperty("success").GetBoolean());
            Assert.Equal("hi there", reply.GetProperty("content").GetString());
            Assert.Equal("agent-001", reply.GetProperty("from").GetString());
            expected.Add((command.GetProperty("id").GetString()!, "command", "echo hi there"));
            var response = await SendAsync("agent-001", "response", "thanks", "--correlation-id", command.GetProperty("id").GetString()!);
            expected.Add((response.GetProperty("id").GetString()!, "response", "thanks"));

            using var reading = new CancellationTokenSource(Patience);
            foreach (var (id, type, content) in expected)
            {
                string line = await listen.StandardOutput.ReadLineAsync(reading.Token) ?? throw new InvalidOperationException("listen ended");
                using var json = JsonDocument.Parse(line);
                var message = json.RootElement;
                Assert.Equal(id, message.GetProperty("id").GetString());
                Assert.Equal(type, message.GetProperty("type").GetString());
                Assert.Equal(nodes.B.PeerId, message.GetProperty("from").GetString());
                Assert.Equal("agent-001", message.GetProperty("to").GetString());
                Assert.Equal(content, message.GetProperty("content").GetString());
                Assert.InRange(message.GetProperty("priority").GetInt32(), 0, 10);
                // A real reception time of this run (not a latency bound: the machine may be loaded).
                Assert.InRange(message.GetProperty("receivedAt").GetDateTimeOffset(), testStarted, DateTimeOffset.UtcNow);
            }

            var statusA = await nodes.A.RunJsonAsync("p2p", "status", "--detailed");
            var neuralA = statusA.GetProperty("neural");
            Assert.Equal(1, neuralA.GetProperty("received").GetProperty("thought").GetInt64());
            Assert.Contains("agent-001", neuralA.GetProperty("agents").EnumerateArray().Select(a => a.GetString()));
            var neuralB = (await nodes.B.RunJsonAsync("p2p", "status", "--detailed")).GetProperty("neural");
            Assert.Equal(1, neuralB.GetProperty("sent").GetProperty("vote").GetInt64());
            Assert.Equal(0, neuralB.GetProperty("queueDepths").GetProperty(nodes.A.PeerId).GetInt32());

            CliProcess.SendSigterm(listen);
            await listen.WaitForExitAsync().WaitAsync(Patience);
            Assert.Equal(0, listen.ExitCode);
        }
        finally
        {
            if (!listen.HasExited) listen.Kill(entireProcessTree: true);
            listen.Dispose();
        }
        // The agent leaves with the listener: when the node sees the listener's connection close, which can be after
        // the listener process has exited.
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var status = await nodes.A.RunJsonAsync("p2p", "status", "--detailed");
            var agents = status.GetProperty("neural").GetProperty("agents").EnumerateArray().Select(a => a.GetString()).ToList();
            if (!agents.Contains("agent-001")) break;
            Assert.True(DateTime.UtcNow < deadline, "agent-001 is still registered after its listener ended");
            await Task.Delay(250);
        }
    }

    [Fact]
    public async Task Commands_to_a_peer_id_answer_and_bad_input_is_one_line()
    {
        var ping = await nodes.B.RunJsonAsync("p2p", "message", nodes.A.PeerId, "--msg-type", "command", "--content", "ping");
        Assert.Equal("pong", ping.GetProperty("response").GetProperty("content").GetString());
        // A command the node has no handler for: the answer is printed, and the exit code says it failed.
        var text = await nodes.B.RunAsync("p2p", "message", nodes.A.PeerId, "--msg-type", "command", "--content", "nonsense");
        Assert.Equal(1, text.ExitCode);
        Assert.Contains("failed: no handler for command 'nonsense'", text.Stdout);
        text.AssertOneLineError("no handler for command 'nonsense'");
        var json = await nodes.B.RunAsync("p2p", "message", nodes.A.PeerId, "--msg-type", "command", "--content", "nonsense", "--json");
        Assert.Equal(1, json.ExitCode);
        Assert.Equal("remote_failure", json.JsonError().GetProperty("code").GetString());

        (await nodes.B.RunAsync("p2p", "message", "agent-x", "--msg-type", "gossip", "--content", "x")).AssertOneLineError("--msg-type");
        (await nodes.B.RunAsync("p2p", "message", "agent-x", "--msg-type", "thought", "--content", "x", "--priority", "11")).AssertOneLineError("--priority");
        (await nodes.B.RunAsync("p2p", "message", "bad name!", "--msg-type", "thought", "--content", "x")).AssertOneLineError("not an agent name");
        (await nodes.B.RunAsync("p2p", "message", "agent-404", "--msg-type", "thought", "--content", "x")).AssertOneLineError("agent-404");
        (await nodes.B.RunAsync("p2p", "message", "agent-x", "--msg-type", "response", "--content", "x")).AssertOneLineError("correlation");
    }

    [Fact]
    public async Task Content_from_a_file_or_stdin_arrives_escaped_on_the_terminal_and_one_limit_is_stated()
    {
        var listen = Process.Start(CliProcess.StartInfo(["p2p", "listen", "--agent", "agent-file", "--home", nodes.A.Home.Path], null))!;
        string file = Path.Combine(nodes.B.Home.Path, "content.txt");
        try
        {
            listen.StandardInput.Close();
            using (var ready = new CancellationTokenSource(Patience))
                Assert.Equal("listening as agent agent-file (Ctrl+C to stop)", await listen.StandardError.ReadLineAsync(ready.Token));

            // A peer's control characters never reach the terminal: escape, bell, CR and newlines are shown escaped.
            await File.WriteAllTextAsync(file, "from a file\n\u001b[31mred\u001b[0m\r\u0007 \u009b2J");
            await SendAsync("agent-file", "thought", "ignored", "--file", file);
            var viaStdin = await nodes.B.RunWithInputAsync("from stdin\nsecond line", "p2p", "message", "agent-file", "--msg-type", "sync", "--content", "-");
            Assert.True(viaStdin.ExitCode == 0, viaStdin.Stderr);

            using var reading = new CancellationTokenSource(Patience);
            string first = await listen.StandardOutput.ReadLineAsync(reading.Token) ?? "";
            Assert.EndsWith($"thought p5 {nodes.B.PeerId} -> agent-file: from a file\\n\\e[31mred\\e[0m\\r\\a \\u009b2J", first);
            string second = await listen.StandardOutput.ReadLineAsync(reading.Token) ?? "";
            Assert.EndsWith("sync p5 " + nodes.B.PeerId + " -> agent-file: from stdin\\nsecond line", second);
        }
        finally
        {
            if (!listen.HasExited) listen.Kill(entireProcessTree: true);
            listen.Dispose();
        }

        // One limit, stated the same way whether the node or the CLI finds the content too large.
        await File.WriteAllTextAsync(file, new string('x', 60_000));
        (await nodes.B.RunAsync("p2p", "message", "agent-file", "--msg-type", "thought", "--file", file))
            .AssertOneLineError("the message content is 60000 bytes, over the limit of 49136 bytes");
        (await nodes.B.RunAsync("p2p", "message", "agent-file", "--msg-type", "command", "--file", file))
            .AssertOneLineError("the message content is 60000 bytes, over the limit of 16378 bytes");
        await File.WriteAllTextAsync(file, new string('x', 3 << 20));
        (await nodes.B.RunAsync("p2p", "message", "agent-file", "--msg-type", "thought", "--file", file))
            .AssertOneLineError($"the message content is {3 << 20} bytes, over the limit of 49136 bytes");
        (await nodes.B.RunAsync("p2p", "message", "agent-file", "--msg-type", "thought", "--file", file, "--content", "x"))
            .AssertOneLineError("not both");
    }

    private async Task<JsonElement> SendAsync(string to, string type, string content, params string[] extra)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            string[] body = extra.Contains("--file") ? [] : ["--content", content];
            var result = await nodes.B.RunAsync(["p2p", "message", to, "--msg-type", type, .. body, .. extra, "--json"]);
            if (result.ExitCode == 0)
            {
                using var json = JsonDocument.Parse(result.Stdout);
                return json.RootElement.Clone();
            }
            Assert.True(result.Stderr.Contains("could not be resolved", StringComparison.Ordinal) && DateTime.UtcNow < deadline,
                $"message {type} failed ({result.ExitCode}): {result.Stderr}");
            await Task.Delay(250);
        }
    }
}
