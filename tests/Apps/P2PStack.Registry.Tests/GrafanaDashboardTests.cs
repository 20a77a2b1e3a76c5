using System.Text.Json;
using System.Text.RegularExpressions;

namespace P2PStack.Registry.Tests;

/// <summary>
/// docs/grafana/synaptic-mesh-dashboard.json imports cleanly: the structure Grafana's import needs, every data source
/// declared as an input, panels that fit the grid without overlapping, metrics that exist (docs/metrics.md), and
/// Infinity queries whose URL and root selector match what the registry really answers. (Its PromQL runs against a
/// real Prometheus in SynapticMesh.Tests' PrometheusDiscoveryTests.)
/// </summary>
public sealed partial class GrafanaDashboardTests
{
    private static readonly string Root = FindRoot();

    private static readonly HashSet<string> PanelTypes = ["stat", "timeseries", "nodeGraph", "table", "gauge", "text", "row"];

    private static string FindRoot()
    {
        string? dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "P2PStack.sln"))) dir = Path.GetDirectoryName(dir);
        return dir ?? throw new InvalidOperationException("P2PStack.sln not found");
    }

    private static JsonDocument Load() => JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "docs", "grafana", "synaptic-mesh-dashboard.json")));

    [Fact]
    public void The_dashboard_has_what_grafana_import_needs()
    {
        using var json = Load();
        var root = json.RootElement;
        Assert.False(string.IsNullOrWhiteSpace(root.GetProperty("title").GetString()));
        Assert.Matches("^[a-zA-Z0-9_-]{1,40}$", root.GetProperty("uid").GetString()!);
        Assert.InRange(root.GetProperty("schemaVersion").GetInt32(), 30, 60);
        Assert.False(root.TryGetProperty("id", out var id) && id.ValueKind != JsonValueKind.Null, "an exported dashboard has no numeric id");

        var inputs = root.GetProperty("__inputs").EnumerateArray().ToDictionary(i => i.GetProperty("name").GetString()!, i => i.GetProperty("pluginId").GetString()!);
        var required = root.GetProperty("__requires").EnumerateArray().Select(r => r.GetProperty("id").GetString()!).ToHashSet();
        foreach (var plugin in inputs.Values) Assert.Contains(plugin, required);

        var variables = root.GetProperty("templating").GetProperty("list").EnumerateArray().Select(v => v.GetProperty("name").GetString()!).ToHashSet();
        var ids = new HashSet<int>();
        var cells = new HashSet<(int, int)>();
        foreach (var panel in root.GetProperty("panels").EnumerateArray())
        {
            string title = panel.GetProperty("title").GetString()!;
            Assert.True(ids.Add(panel.GetProperty("id").GetInt32()), $"duplicate panel id ({title})");
            Assert.Contains(panel.GetProperty("type").GetString()!, PanelTypes);
            var grid = panel.GetProperty("gridPos");
            int x = grid.GetProperty("x").GetInt32(), y = grid.GetProperty("y").GetInt32(), w = grid.GetProperty("w").GetInt32(), h = grid.GetProperty("h").GetInt32();
            Assert.True(x >= 0 && w > 0 && x + w <= 24 && y >= 0 && h > 0, $"{title} is off the 24-column grid");
            for (int cx = x; cx < x + w; cx++)
                for (int cy = y; cy < y + h; cy++)
                    Assert.True(cells.Add((cx, cy)), $"{title} overlaps another panel at ({cx}, {cy})");

            CheckDataSource(panel.GetProperty("datasource"), inputs, title);
            var refIds = new HashSet<string>();
            foreach (var target in panel.GetProperty("targets").EnumerateArray())
            {
                Assert.True(refIds.Add(target.GetProperty("refId").GetString()!), $"{title}: duplicate refId");
                CheckDataSource(target.GetProperty("datasource"), inputs, title);
                string text = target.GetRawText();
                foreach (Match variable in VariablePattern().Matches(text))
                {
                    string name = variable.Groups[1].Value;
                    Assert.True(variables.Contains(name) || name.StartsWith("__", StringComparison.Ordinal) || name.StartsWith("DS_", StringComparison.Ordinal),
                        $"{title} uses ${name}, which the dashboard does not define");
                }
            }
        }
        foreach (var variable in root.GetProperty("templating").GetProperty("list").EnumerateArray())
            CheckDataSource(variable.GetProperty("datasource"), inputs, variable.GetProperty("name").GetString()!);
    }

    private static void CheckDataSource(JsonElement datasource, Dictionary<string, string> inputs, string where)
    {
        string uid = datasource.GetProperty("uid").GetString()!;
        var match = Regex.Match(uid, @"^\$\{(DS_[A-Z_]+)\}$");
        Assert.True(match.Success, $"{where}: data source uid {uid} is not an import input");
        Assert.True(inputs.TryGetValue(match.Groups[1].Value, out var plugin), $"{where}: {uid} is not declared in __inputs");
        Assert.Equal(plugin, datasource.GetProperty("type").GetString());
    }

    [Fact]
    public void Every_metric_the_dashboard_queries_is_documented()
    {
        using var json = Load();
        string metrics = File.ReadAllText(Path.Combine(Root, "docs", "metrics.md"));
        var names = json.RootElement.GetProperty("panels").EnumerateArray()
            .SelectMany(p => p.GetProperty("targets").EnumerateArray())
            .Where(t => t.TryGetProperty("expr", out _))
            .SelectMany(t => MetricPattern().Matches(t.GetProperty("expr").GetString()!).Select(m => m.Value))
            .Distinct()
            .ToList();
        Assert.NotEmpty(names);
        foreach (var name in names) Assert.True(metrics.Contains($"`{name}`", StringComparison.Ordinal), $"{name} is not in docs/metrics.md");
    }

    [Fact]
    public async Task Every_infinity_query_matches_what_the_registry_answers()
    {
        await using var registry = await TestRegistry.StartAsync();
        using var key = Keys.New();
        using var peer = Keys.New();
        using (var client = registry.Client(key))
        using (var other = registry.Client(peer))
        using (var sovereign = registry.Client(registry.Sovereign))
        {
            await client.RegisterAsync(new RegisterRequest { Name = "a" }, default);
            await other.RegisterAsync(new RegisterRequest { Name = "b" }, default);
            await sovereign.ApproveAsync(key.Id(), null, default);
            await sovereign.ApproveAsync(peer.Id(), null, default);
            await client.HeartbeatAsync(new HeartbeatRequest { Connections = [new(peer.Id(), new RttStats(1, 1, 1, 1))] }, default);
        }
        using var json = Load();
        int checkedQueries = 0;
        foreach (var target in json.RootElement.GetProperty("panels").EnumerateArray().SelectMany(p => p.GetProperty("targets").EnumerateArray()))
        {
            if (!target.TryGetProperty("url", out var url)) continue;
            using var answer = JsonDocument.Parse(await registry.Http.GetStringAsync(url.GetString()));
            var rows = answer.RootElement.GetProperty(target.GetProperty("root_selector").GetString()!);
            var first = rows.ValueKind == JsonValueKind.Array ? rows.EnumerateArray().First() : rows;
            if (target.TryGetProperty("columns", out var columns))
            {
                foreach (var column in columns.EnumerateArray())
                {
                    string selector = column.GetProperty("selector").GetString()!;
                    Assert.True(first.TryGetProperty(selector, out _), $"{url}: no '{selector}' in {first}");
                }
            }
            string format = target.GetProperty("format").GetString()!;
            if (format == "node-graph-nodes") Assert.True(first.TryGetProperty("id", out _));
            if (format == "node-graph-edges")
                foreach (var field in new[] { "id", "source", "target" }) Assert.True(first.TryGetProperty(field, out _), field);
            checkedQueries++;
        }
        Assert.True(checkedQueries >= 3);
    }

    [GeneratedRegex(@"\$\{?([A-Za-z_][A-Za-z0-9_]*)")]
    private static partial Regex VariablePattern();

    [GeneratedRegex(@"\b(?:mesh|p2pstack)_[a-z0-9_]+")]
    private static partial Regex MetricPattern();
}
