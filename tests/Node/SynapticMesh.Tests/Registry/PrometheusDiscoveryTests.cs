using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Xunit.Abstractions;

namespace SynapticMesh.Tests.Registry;

/// <summary>
/// A real Prometheus (Debian's package, on loopback, a free port, its own temp storage) configured with the registry's
/// HTTP service discovery finds the three running nodes and scrapes them; the Grafana dashboard's queries run on it.
/// </summary>
public sealed class PrometheusDiscoveryTests(ITestOutputHelper output)
{
    private const string Binary = "/usr/bin/prometheus";
    private const string Job = "synaptic-mesh";

    [DebianFact("prometheus", Binary)]
    public async Task Prometheus_discovers_the_nodes_through_the_registry_and_scrapes_them()
    {
        await DebianPackage.EnsureInstalledAsync("prometheus", Binary);
        await using var mesh = await RegistryMesh.StartAsync();
        var directory = Directory.CreateTempSubdirectory("p2pstack-prometheus-");
        Process? prometheus = null;
        try
        {
            string config = Path.Combine(directory.FullName, "prometheus.yml");
            await File.WriteAllTextAsync(config, $"""
                global:
                  scrape_interval: 1s
                  scrape_timeout: 1s
                  evaluation_interval: 1s
                scrape_configs:
                  - job_name: {Job}
                    http_sd_configs:
                      - url: {new Uri(mesh.Registry.Url, "/prometheus/targets")}
                        refresh_interval: 1s
                """);
            int port;
            (prometheus, port) = await StartPrometheusAsync(config, directory.FullName);
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(30) };

            var ids = mesh.Nodes.Select(n => n.PeerId).Order(StringComparer.Ordinal).ToList();
            List<(string Node, string Value)> up = [];
            await Eventually.WaitAsync(async () =>
            {
                up = [.. (await QueryAsync(http, $"up{{job=\"{Job}\"}}")).Select(r => (r.Labels["node_id"], r.Value))];
                return up.Count == 3 && up.All(u => u.Value == "1") && up.Select(u => u.Node).Order(StringComparer.Ordinal).SequenceEqual(ids);
            }, RegistryMesh.Timeout, () => $"up == 1 for {string.Join(", ", ids)}; got {string.Join(", ", up)}");
            output.WriteLine($"up: {string.Join(", ", up)}");

            // The seed's RTT metrics, scraped with its labels, and the dashboard's queries against this Prometheus.
            await Eventually.WaitAsync(async () => (await QueryAsync(http, "mesh_peer_rtt_avg_milliseconds")).Count >= 2,
                RegistryMesh.Timeout, () => "mesh_peer_rtt_avg_milliseconds series");
            var rtt = await QueryAsync(http, "mesh_peer_rtt_avg_milliseconds");
            Assert.All(rtt, r =>
            {
                foreach (var label in new[] { "local_node_id", "remote_node_id", "local_ip", "remote_ip" }) Assert.True(r.Labels.ContainsKey(label), label);
                Assert.Equal("127.0.0.1", r.Labels["remote_ip"]);
            });
            foreach (var (panel, expr) in GrafanaDashboard.PromQlQueries())
            {
                string query = expr.Replace("$job", Job).Replace("$node", ".*").Replace("$__rate_interval", "1m");
                var result = await QueryAsync(http, query); // throws unless Prometheus accepts the query
                output.WriteLine($"{panel}: {query} -> {result.Count} series");
                if (!query.Contains("dial_failures", StringComparison.Ordinal)) Assert.True(result.Count > 0, $"dashboard panel '{panel}': {query} returned nothing");
            }
        }
        finally
        {
            if (prometheus is not null)
            {
                try { prometheus.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                await prometheus.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
                prometheus.Dispose();
            }
            try { directory.Delete(recursive: true); } catch (IOException) { }
        }
    }

    private sealed record Sample(IReadOnlyDictionary<string, string> Labels, string Value);

    private static async Task<List<Sample>> QueryAsync(HttpClient http, string query)
    {
        using var response = await http.GetAsync($"api/v1/query?query={Uri.EscapeDataString(query)}");
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"Prometheus refused {query}: {body}");
        using var json = JsonDocument.Parse(body);
        Assert.Equal("success", json.RootElement.GetProperty("status").GetString());
        var data = json.RootElement.GetProperty("data");
        if (data.GetProperty("resultType").GetString() != "vector") return [];
        return [.. data.GetProperty("result").EnumerateArray().Select(r => new Sample(
            r.GetProperty("metric").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!),
            r.GetProperty("value")[1].GetString()!))];
    }

    /// <summary>Prometheus on a free loopback port (picked, released, then bound by Prometheus; retried if taken meanwhile).</summary>
    private async Task<(Process Process, int Port)> StartPrometheusAsync(string config, string directory)
    {
        for (int attempt = 1; ; attempt++)
        {
            int port = FreePort();
            var start = new ProcessStartInfo(Binary)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
                UseShellExecute = false,
            };
            foreach (var arg in new[]
            {
                $"--config.file={config}", $"--storage.tsdb.path={Path.Combine(directory, "data")}", $"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            })
            {
                start.ArgumentList.Add(arg);
            }
            var process = Process.Start(start)!;
            process.StandardInput.Close();
            var log = new System.Text.StringBuilder();
            process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.AppendLine(e.Data); };
            process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.AppendLine(e.Data); };
            process.BeginErrorReadLine();
            process.BeginOutputReadLine();
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
            try
            {
                await Eventually.WaitAsync(async () =>
                {
                    if (process.HasExited) return true;
                    try
                    {
                        using var ready = await http.GetAsync($"http://127.0.0.1:{port}/-/ready");
                        return ready.StatusCode == HttpStatusCode.OK;
                    }
                    catch (HttpRequestException)
                    {
                        return false;
                    }
                }, TimeSpan.FromSeconds(60), () => $"Prometheus ready on {port}: {log}");
            }
            catch
            {
                try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                process.Dispose();
                throw;
            }
            if (!process.HasExited) return (process, port);
            string text;
            lock (log) text = log.ToString();
            process.Dispose();
            if (attempt >= 3 || !text.Contains("address already in use", StringComparison.Ordinal))
                throw new InvalidOperationException($"Prometheus exited: {text}");
            output.WriteLine($"port {port} was taken meanwhile; retrying");
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
