using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using SynapticMesh.Api;
using SynapticMesh.Cli;

namespace SynapticMesh.Tests;

/// <summary>
/// The node's loopback HTTP endpoints against a web page doing DNS rebinding, and the CLI against a stale api.json
/// whose port now belongs to someone else (issue 18, item 9).
/// </summary>
public sealed class EndpointHardeningTests : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private readonly TempHome _home = new();

    public void Dispose() => _home.Dispose();

    [Fact]
    public async Task ControlApiAndMetricsRefuseRequestsWhoseHostIsNotALoopbackName()
    {
        var init = await CliProcess.RunAsync(["p2p", "init", "--home", _home.Path, "--no-passphrase", "--listen", "/ip4/127.0.0.1/tcp/0"]);
        Assert.True(init.ExitCode == 0, init.Stderr);
        await using var node = await NodeProcess.StartAsync(_home, null, "--metrics", "127.0.0.1:0");
        var metrics = new Uri(node.StartLine.GetProperty("metrics").GetString()!);
        using var api = JsonDocument.Parse(await File.ReadAllBytesAsync(_home.File("api.json")));
        int apiPort = api.RootElement.GetProperty("port").GetInt32();
        string token = api.RootElement.GetProperty("token").GetString()!;

        // What a browser sends after rebinding attacker.example to 127.0.0.1: its own name in Host.
        var rebound = await RawGetAsync(metrics.Port, "/metrics", "attacker.example:" + metrics.Port);
        Assert.StartsWith("HTTP/1.1 403", rebound);
        Assert.DoesNotContain(node.PeerId, rebound);
        var reboundApi = await RawGetAsync(apiPort, "/v1/status", "attacker.example", token);
        Assert.StartsWith("HTTP/1.1 403", reboundApi);
        Assert.DoesNotContain(node.PeerId, reboundApi);
        Assert.StartsWith("HTTP/1.1 403", await RawGetAsync(apiPort, "/v1/endpoint-proof?challenge=0123456789abcdef0123", "127.0.0.1.attacker.example"));

        // Loopback names are served.
        Assert.StartsWith("HTTP/1.1 200", await RawGetAsync(metrics.Port, "/metrics", "localhost:" + metrics.Port));
        Assert.StartsWith("HTTP/1.1 200", await RawGetAsync(metrics.Port, "/metrics", "127.0.0.1:" + metrics.Port));
        var status = await RawGetAsync(apiPort, "/v1/status", "127.0.0.1:" + apiPort, token);
        Assert.StartsWith("HTTP/1.1 200", status);
        Assert.Contains(node.PeerId, status);
    }

    [Fact]
    public async Task AStaleEndpointFileWhosePidIsGoneIsIgnoredWithoutConnecting()
    {
        using var squatter = new Squatter();
        int deadPid = await ExitedPidAsync();
        WriteEndpointFile(squatter.Port, "stale-token-never-sent", deadPid, "12D3KooWBogusBogusBogusBogusBogusBogusBogusBogusBogus");

        var status = await CliProcess.RunAsync(["p2p", "status", "--home", _home.Path]);
        status.AssertOneLineError("no node is running");
        Assert.Equal(0, squatter.Connections);
    }

    [Fact]
    public async Task TheTokenIsNeverSentToAProcessThatCannotProveItWroteTheEndpointFile()
    {
        using var squatter = new Squatter();
        const string token = "the-token-of-a-node-that-crashed";
        // A live pid (this test process) and a port someone else now listens on: the CLI asks for the proof first.
        string peerId = "12D3KooWBogusBogusBogusBogusBogusBogusBogusBogusBogus";
        squatter.Answer = $$"""{"peerId":"{{peerId}}","pid":{{Environment.ProcessId}},"proof":"AAAA"}""";
        WriteEndpointFile(squatter.Port, token, Environment.ProcessId, peerId);

        var status = await CliProcess.RunAsync(["p2p", "status", "--home", _home.Path]);
        status.AssertOneLineError("not the node that wrote api.json");
        var listen = await CliProcess.RunAsync(["p2p", "listen", "--home", _home.Path]);
        listen.AssertOneLineError("not the node that wrote api.json");

        Assert.True(squatter.Connections > 0);
        Assert.Contains("GET /v1/endpoint-proof?challenge=", squatter.Received);
        Assert.DoesNotContain(token, squatter.Received);
        Assert.DoesNotContain("Authorization", squatter.Received, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task AControlApiThatAcceptsNoConnectionIsReportedAsTheConnectTimeoutNotAsAnInterruption()
    {
        // Connects that never complete (a node stuck before accept): the handler's connect timeout runs out.
        var stalled = new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectTimeout = TimeSpan.FromMilliseconds(200),
            ConnectCallback = async (_, token) =>
            {
                await Task.Delay(Timeout.Infinite, token);
                throw new InvalidOperationException("unreachable");
            },
        };
        var endpoint = new ApiEndpointFile(4242, "token", Environment.ProcessId, "12D3KooWBogusBogusBogusBogusBogusBogusBogusBogusBogus");
        using var client = new ControlClient(endpoint, "start it", stalled);

        var error = await Assert.ThrowsAsync<CliException>(() => client.GetAsync<JsonElement>("v1/status", CancellationToken.None).WaitAsync(Patience));
        Assert.Equal(ErrorCodes.Timeout, error.Code);
        Assert.Contains("connect timeout (0.2 s)", error.Message, StringComparison.Ordinal);
        Assert.Contains("127.0.0.1:4242", error.Message, StringComparison.Ordinal);

        // The caller's own cancellation stays an interruption.
        using var cancelled = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        using var patient = new ControlClient(endpoint, "start it", new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectCallback = stalled.ConnectCallback,
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => patient.GetAsync<JsonElement>("v1/status", cancelled.Token).WaitAsync(Patience));
    }

    private void WriteEndpointFile(int port, string token, int pid, string peerId)
    {
        Directory.CreateDirectory(_home.Path);
        File.WriteAllText(_home.File("api.json"), JsonSerializer.Serialize(new { port, token, pid, peerId }));
    }

    private static async Task<int> ExitedPidAsync()
    {
        using var process = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        await process.WaitForExitAsync().WaitAsync(Patience);
        return process.Id;
    }

    /// <summary>A raw HTTP/1.1 GET with the given Host header; the whole response as text.</summary>
    private static async Task<string> RawGetAsync(int port, string path, string host, string? token = null)
    {
        using var client = new TcpClient();
        using var timeout = new CancellationTokenSource(Patience);
        await client.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
        var stream = client.GetStream();
        string request = $"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
            + (token is null ? "" : $"Authorization: Bearer {token}\r\n") + "\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), timeout.Token);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return await reader.ReadToEndAsync(timeout.Token);
    }

    /// <summary>Whoever holds a crashed node's port next: records every byte it is sent and answers each request.</summary>
    private sealed class Squatter : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly StringBuilder _received = new();
        private readonly Task _accepting;
        private int _connections;

        public Squatter()
        {
            _listener.Start();
            _accepting = AcceptAsync();
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public string Answer { get; set; } = "{}";

        public int Connections => Volatile.Read(ref _connections);

        public string Received
        {
            get { lock (_received) return _received.ToString(); }
        }

        private async Task AcceptAsync()
        {
            try
            {
                while (true)
                {
                    var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    Interlocked.Increment(ref _connections);
                    _ = ServeAsync(client);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }

        private async Task ServeAsync(TcpClient client)
        {
            using (client)
            {
                try
                {
                    var stream = client.GetStream();
                    var buffer = new byte[8192];
                    var request = new StringBuilder();
                    while (!request.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
                    {
                        int read = await stream.ReadAsync(buffer, _stop.Token);
                        if (read == 0) break;
                        string text = Encoding.ASCII.GetString(buffer, 0, read);
                        request.Append(text);
                        lock (_received) _received.Append(text);
                    }
                    byte[] body = Encoding.UTF8.GetBytes(Answer);
                    await stream.WriteAsync(Encoding.ASCII.GetBytes(
                        $"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n"), _stop.Token);
                    await stream.WriteAsync(body, _stop.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or IOException or SocketException)
                {
                }
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            try { _accepting.Wait(Patience); }
            catch (AggregateException) { }
            _stop.Dispose();
        }
    }
}
