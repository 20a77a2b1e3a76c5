using System.Globalization;
using System.Net;

namespace SynapticMesh.Tests;

public sealed class MetricsTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task MetricsEndpointServesPrometheusTextAfterConnectAndPing()
    {
        using var homeA = new TempHome();
        using var homeB = new TempHome();
        foreach (var home in new[] { homeA, homeB })
        {
            var init = await CliProcess.RunAsync(["p2p", "init", "--home", home.Path, "--no-passphrase", "--listen", "/ip4/127.0.0.1/tcp/0"]);
            Assert.True(init.ExitCode == 0, init.Stderr);
        }
        await using var a = await NodeProcess.StartAsync(homeA, null, "--metrics", "127.0.0.1:0");
        await using var b = await NodeProcess.StartAsync(homeB, null, "--metrics", "127.0.0.1:0");
        var urlA = new Uri(a.StartLine.GetProperty("metrics").GetString()!);
        var urlB = new Uri(b.StartLine.GetProperty("metrics").GetString()!);
        Assert.True(IPAddress.IsLoopback(IPAddress.Parse(urlB.Host)));
        Assert.NotEqual(0, urlB.Port);
        Assert.Equal("/metrics", urlB.AbsolutePath);

        await b.RunJsonAsync("p2p", "connect", a.TcpAddress);
        await b.RunJsonAsync("p2p", "ping", a.PeerId, "--count", "2");

        using var http = new HttpClient { Timeout = Timeout };
        using var response = await http.GetAsync(urlB); // no token: loopback metrics are open, as Prometheus expects
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(response.Content.Headers.ContentType!.Parameters, p => p.Name == "version" && p.Value == "0.0.4");
        string text = await response.Content.ReadAsStringAsync();

        Assert.Contains("# TYPE p2pstack_connections gauge\n", text);
        Assert.Equal(1, Sample(text, "p2pstack_quantum_secure_connections"));
        Assert.Equal(1, Sample(text, "p2pstack_connected_peers"));
        Assert.Equal(1, Sample(text, "p2pstack_connections{direction=\"outbound\",security=\"/noise-mlkem768-hfs/0.1.0\",transport=\"tcp\"}"));
        Assert.True(Sample(text, "p2pstack_bytes_sent_total{transport=\"tcp\"}") > 1184);
        Assert.True(Sample(text, "p2pstack_bytes_received_total{transport=\"tcp\"}") > 1088);
        foreach (var stat in new[] { "current", "min", "max", "avg" })
            Assert.True(Sample(text, $"p2pstack_peer_rtt_seconds{{peer=\"{a.PeerId}\",stat=\"{stat}\"}}") > 0, stat);

        // The other node counts the same connection from its side.
        string textA = await http.GetStringAsync(urlA);
        Assert.Equal(1, Sample(textA, "p2pstack_connections{direction=\"inbound\",security=\"/noise-mlkem768-hfs/0.1.0\",transport=\"tcp\"}"));

        // Only /metrics is served there, and the control API is not reachable through it.
        using var other = await http.GetAsync(new Uri(urlB, "/p2p/status"));
        Assert.Equal(HttpStatusCode.NotFound, other.StatusCode);
    }

    [Theory]
    [InlineData("0.0.0.0:9464", "loopback")]
    [InlineData("192.0.2.1:9464", "loopback")]
    [InlineData("127.0.0.1", "port")]
    [InlineData("localhost:9464", "port")]
    public async Task NonLoopbackOrMalformedMetricsAddressesAreRefused(string address, string fragment)
    {
        using var home = new TempHome();
        var result = await CliProcess.RunAsync(["p2p", "start", "--home", home.Path, "--metrics", address]);
        result.AssertOneLineError(fragment);
        Assert.Equal(2, result.ExitCode);
    }

    private static double Sample(string text, string series)
    {
        var line = text.Split('\n').Single(l => l.StartsWith(series + " ", StringComparison.Ordinal));
        return double.Parse(line[(series.Length + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture);
    }
}
