using System.Globalization;
using System.Text.Json.Serialization;

namespace P2PStack.Registry;

/// <summary>
/// GET /graph: the topology as Grafana's node graph panel wants it — a nodes frame (id, title, subtitle, mainstat,
/// secondarystat, color, arc__*) and an edges frame (id, source, target, mainstat, secondarystat), as JSON arrays
/// a JSON data source (e.g. Infinity with the "nodes" and "edges" root selectors) turns into data frames.
/// </summary>
internal static class GrafanaGraph
{
    public static readonly IReadOnlyDictionary<string, string> StatusColors = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [NodeStatus.Active] = "#2e7d32",
        [NodeStatus.Pending] = "#f9a825",
        [NodeStatus.Offline] = "#757575",
        [NodeStatus.Denied] = "#c62828",
    };

    public sealed record GraphNode(
        string Id, string Title, string Subtitle,
        [property: JsonPropertyName("mainstat")] string MainStat,
        [property: JsonPropertyName("secondarystat")] string SecondaryStat,
        string Color,
        [property: JsonPropertyName("arc__active")] double ArcActive,
        [property: JsonPropertyName("arc__pending")] double ArcPending,
        [property: JsonPropertyName("arc__offline")] double ArcOffline,
        [property: JsonPropertyName("arc__denied")] double ArcDenied,
        [property: JsonPropertyName("detail__status")] string Status,
        [property: JsonPropertyName("detail__addresses")] string Addresses);

    public sealed record GraphEdge(
        string Id, string Source, string Target,
        [property: JsonPropertyName("mainstat")] double? MainStat,
        [property: JsonPropertyName("secondarystat")] string SecondaryStat,
        [property: JsonPropertyName("detail__reported_by")] string ReportedBy,
        [property: JsonPropertyName("detail__stale")] bool Stale);

    public sealed record Graph(IReadOnlyList<GraphNode> Nodes, IReadOnlyList<GraphEdge> Edges);

    public static Graph From(Topology topology)
    {
        var nodes = topology.Nodes.Select(n => new GraphNode(
            n.Id,
            n.Name is { Length: > 0 } name ? name : Short(n.Id),
            Short(n.Id),
            n.Status,
            $"{n.ConnectedPeers} peers",
            StatusColors.GetValueOrDefault(n.Status, "#757575"),
            n.Status == NodeStatus.Active ? 1 : 0,
            n.Status == NodeStatus.Pending ? 1 : 0,
            n.Status == NodeStatus.Offline ? 1 : 0,
            n.Status == NodeStatus.Denied ? 1 : 0,
            n.Status,
            string.Join(" ", n.Addresses))).ToList();
        var edges = topology.Links.Select(l => new GraphEdge(
            $"{l.Source}-{l.Target}", l.Source, l.Target,
            l.RttMs is { } rtt ? Math.Round(rtt.Avg, 3) : null,
            l.RttMs is { } r ? string.Create(CultureInfo.InvariantCulture, $"min {r.Min:0.###} / max {r.Max:0.###} ms") : "rtt not measured",
            l.ReportedBy, l.Stale)).ToList();
        return new Graph(nodes, edges);
    }

    private static string Short(string id) => id.Length <= 12 ? id : $"{id[..4]}…{id[^6..]}";
}
