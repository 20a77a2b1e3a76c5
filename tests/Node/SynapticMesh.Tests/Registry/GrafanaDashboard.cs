using System.Text.Json;

namespace SynapticMesh.Tests.Registry;

/// <summary>docs/grafana/synaptic-mesh-dashboard.json, as the tests read it.</summary>
public static class GrafanaDashboard
{
    public static string Path
    {
        get
        {
            string? dir = AppContext.BaseDirectory;
            while (dir is not null && !File.Exists(System.IO.Path.Combine(dir, "P2PStack.sln"))) dir = System.IO.Path.GetDirectoryName(dir);
            return System.IO.Path.Combine(dir ?? throw new InvalidOperationException("P2PStack.sln not found"), "docs", "grafana", "synaptic-mesh-dashboard.json");
        }
    }

    /// <summary>(panel title, PromQL) of every Prometheus target of every panel.</summary>
    public static IReadOnlyList<(string Panel, string Expr)> PromQlQueries()
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Path));
        var list = new List<(string, string)>();
        foreach (var panel in json.RootElement.GetProperty("panels").EnumerateArray())
        {
            foreach (var target in panel.GetProperty("targets").EnumerateArray())
            {
                if (target.TryGetProperty("expr", out var expr)) list.Add((panel.GetProperty("title").GetString()!, expr.GetString()!));
            }
        }
        return list;
    }
}
