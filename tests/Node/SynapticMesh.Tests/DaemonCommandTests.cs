using System.Diagnostics;
using System.Net.Sockets;
using System.Text.Json;

namespace SynapticMesh.Tests;

/// <summary><c>synaptic-mesh daemon</c> as a process: p2pd's flags, its start lines, its refusals and its shutdown.</summary>
public sealed class DaemonCommandTests
{
    [Fact]
    public async Task CapabilitiesArePrintedAsJson()
    {
        var result = await CliProcess.RunAsync(["daemon", "--capabilities"]);
        Assert.Equal(0, result.ExitCode);
        using var json = JsonDocument.Parse(result.Stdout);
        Assert.Contains("noise", json.RootElement.GetProperty("security").EnumerateArray().Select(e => e.GetString()));
        Assert.Contains("floodsub", json.RootElement.GetProperty("pubSubRouters").EnumerateArray().Select(e => e.GetString()));
        Assert.True(json.RootElement.GetProperty("dht").GetBoolean());
    }

    [Theory]
    [InlineData("-muxer=mplex", "mplex")]
    [InlineData("--pubsub-router=randomsub", "randomsub")]
    [InlineData("-hostAddrs=not-an-address", "not-an-address")]
    [InlineData("-connGrace=soon", "soon")]
    [InlineData("-id=/nonexistent/key", "/nonexistent/key")]
    [InlineData("--listen=/ip4/10.1.2.3/tcp/0", "no authentication")]
    public async Task BadFlagsAreOneLineErrors(string flag, string fragment)
    {
        string[] args = flag.StartsWith("--listen", StringComparison.Ordinal) ? ["daemon", flag] : ["daemon", "--listen", "/ip4/127.0.0.1/tcp/0", flag];
        var result = await CliProcess.RunAsync(args);
        result.AssertOneLineError(fragment);
    }

    [Fact]
    public async Task P2pdStyleFlagsStartADaemonThatAnswersOnItsUnixSocketAndStopsOnSigterm()
    {
        string socketPath = Path.Combine(Path.GetTempPath(), $"synaptic-mesh-daemon-{Guid.NewGuid():N}.sock");
        var info = CliProcess.StartInfo(["daemon", $"-listen=/unix{socketPath}", "-hostAddrs=/ip4/127.0.0.1/tcp/0", "-dhtServer", "-pubsub",
            "-pubsubRouter=floodsub", "-noise=true", "-muxer=yamux", "-connManager", "-connLo=10", "-connHi=20", "-connGrace=30s"], null);
        using var process = Process.Start(info)!;
        try
        {
            process.StandardInput.Close();
            using var timeout = new CancellationTokenSource(NodeProcess.StartTimeout);
            var lines = new List<string>();
            while (lines.Count < 4 && await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line) lines.Add(line);
            Assert.Equal($"Control socket: /unix{socketPath}", lines[0]);
            Assert.StartsWith("Peer ID: ", lines[1]);
            Assert.Equal("Peer Addrs:", lines[2]);
            Assert.StartsWith("/ip4/127.0.0.1/tcp/", lines[3]);

            // IDENTIFY by hand: Request{type: IDENTIFY} is 08 00; the answer starts with Response{type: OK} (08 00).
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), timeout.Token);
            await socket.SendAsync(new byte[] { 2, 0x08, 0x00 }, timeout.Token);
            var answer = new byte[3];
            int read = 0;
            while (read < answer.Length) read += await socket.ReceiveAsync(answer.AsMemory(read), timeout.Token);
            Assert.Equal(new byte[] { 0x08, 0x00 }, answer[1..]);

            CliProcess.SendSigterm(process);
            await process.WaitForExitAsync(timeout.Token);
            Assert.Equal(0, process.ExitCode);
            Assert.False(File.Exists(socketPath));
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            File.Delete(socketPath);
        }
    }
}
