using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;

namespace SynapticMesh.Tests;

/// <summary>
/// Two nodes finding each other by mDNS over real multicast on the loopback interface (TTL 1: nothing leaves the
/// machine). Each run uses its own service name and UDP port, and looks only for the peer ids it started, so tests
/// running at the same time on this machine neither see nor disturb each other.
/// </summary>
public sealed class MdnsCliTests : IAsyncLifetime
{
    private readonly TempHome _homeA = new();
    private readonly TempHome _homeB = new();
    private NodeProcess? _a;
    private NodeProcess? _b;

    public async Task InitializeAsync()
    {
        string service = $"_p2p-test{Random.Shared.Next():x8}._udp.local";
        int port = FreeUdpPort();
        foreach (var home in new[] { _homeA, _homeB })
        {
            var init = await CliProcess.RunAsync(["p2p", "init", "--home", home.Path, "--no-passphrase", "--listen", "/ip4/127.0.0.1/tcp/0",
                "--mdns", "on", "--mdns-service", service]);
            Assert.True(init.ExitCode == 0, init.Stderr);
            var config = JsonNode.Parse(await File.ReadAllTextAsync(home.File("config.json")))!;
            config["mdns"]!["port"] = port;
            config["mdns"]!["queryIntervalSeconds"] = 1;
            await File.WriteAllTextAsync(home.File("config.json"), config.ToJsonString());
        }
        _a = await NodeProcess.StartAsync(_homeA);
        _b = await NodeProcess.StartAsync(_homeB);
    }

    public async Task DisposeAsync()
    {
        if (_a is not null) await _a.DisposeAsync();
        if (_b is not null) await _b.DisposeAsync();
        _homeA.Dispose();
        _homeB.Dispose();
    }

    [Fact]
    public async Task TwoNodesFindEachOtherConnectAndFillTheirDhtTables()
    {
        var (a, b) = (_a!, _b!);
        var found = await Eventually.HoldsAsync(() => a.RunJsonAsync("p2p", "discover", "--method", "mdns", "--count", "1", "--timeout", "10"),
            d => d.GetProperty("peers").EnumerateArray().Any(p => p.GetProperty("peerId").GetString() == b.PeerId), "A finds B by mDNS");
        var peerB = found.GetProperty("peers").EnumerateArray().First(p => p.GetProperty("peerId").GetString() == b.PeerId);
        Assert.Equal("mdns", peerB.GetProperty("source").GetString());
        Assert.Contains(peerB.GetProperty("addresses").EnumerateArray(), x => b.TcpAddress.StartsWith(x.GetString()!, StringComparison.Ordinal));

        // Discovered peers are dialed (up to the watermark) and, once identified, join the DHT routing table.
        await Eventually.HoldsAsync(() => b.RunJsonAsync("p2p", "status"),
            s => s.GetProperty("peers").EnumerateArray().Any(p => p.GetProperty("peerId").GetString() == a.PeerId), "B connected to A");
        await Eventually.HoldsAsync(() => a.RunJsonAsync("p2p", "discover", "--method", "kademlia", "--count", "1", "--timeout", "2"),
            d => d.GetProperty("peers").EnumerateArray().Any(p => p.GetProperty("peerId").GetString() == b.PeerId), "B in A's DHT table");
        var fromB = await b.RunJsonAsync("p2p", "discover", "--method", "mdns", "--count", "1");
        Assert.Contains(fromB.GetProperty("peers").EnumerateArray(), p => p.GetProperty("peerId").GetString() == a.PeerId);
    }

    private static int FreeUdpPort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Any, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
