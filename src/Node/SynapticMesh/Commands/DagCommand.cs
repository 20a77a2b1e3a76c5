using System.CommandLine;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;
using P2PStack.Consensus.Dag;
using SynapticMesh.Api;
using SynapticMesh.Cli;

namespace SynapticMesh.Commands;

/// <summary>
/// <c>p2p dag propose|status|get|watch</c>: DAG consensus on the running node. <c>propose &lt;data&gt;
/// [--conflict-key K]... [--wait]</c> signs a vertex and starts voting on it; <c>status</c> shows the frontier, the
/// finalized count and what is pending; <c>get &lt;vertex id&gt;</c> (or a unique prefix of at least 8 hex digits)
/// shows one vertex; <c>watch</c> prints vertices as they arrive and are decided until Ctrl+C.
/// </summary>
public static class DagCommand
{
    /// <summary>Shortest vertex id prefix <c>get</c> accepts.</summary>
    public const int MinPrefixLength = 8;

    public sealed record ProposeRequest(string Data, IReadOnlyList<string>? ConflictKeys = null, bool Wait = false, int? TimeoutSeconds = null);

    public sealed record ProposeResponse(string Id, ulong Height, IReadOnlyList<string> Parents, IReadOnlyList<string> ConflictKeys, string Status,
        double? LatencyMs = null);

    public sealed record StatusResponse(string Name, string PeerId, string Membership, int Members, long Finalized, long Accepted, long Rejected,
        int Processing, int WaitingForParents, int Vertices, int Tips, IReadOnlyList<string> Frontier, IReadOnlyList<string> Undecided,
        int OutstandingPolls, long PollsStarted, long PollsTimedOut, long MessagesSent, long MessagesReceived, IReadOnlyList<EquivocationView> Equivocations,
        IReadOnlyDictionary<string, long> Refused, long InboxDropped, long SendsDropped);

    public sealed record EquivocationView(string Author, string ConflictKey, string First, string Second, DateTimeOffset DetectedAt);

    public sealed record VertexView(string Id, string Author, ulong Height, DateTimeOffset Timestamp, IReadOnlyList<string> Parents,
        IReadOnlyList<string> Children, IReadOnlyList<string> ConflictKeys, string Payload, string PayloadEncoding, int PayloadBytes, string Status,
        DateTimeOffset? FirstSeen, DateTimeOffset? DecidedAt, double? LatencyMs, int Confidence, bool StronglyPreferred, IReadOnlyList<string> MissingParents);

    public sealed record WatchEvent(string Event, string Id, string Author, ulong Height, IReadOnlyList<string> ConflictKeys, DateTimeOffset At,
        double? LatencyMs = null, string? Equivocator = null, string? ConflictingVertex = null);

    private static readonly JsonSerializerOptions LineOptions = new(CliOutput.JsonOptions) { WriteIndented = false };

    public static Command Create(CommandContextFactory contexts)
    {
        var command = new Command("dag", "DAG consensus: propose vertices, see what was decided");
        command.Subcommands.Add(Propose(contexts));
        command.Subcommands.Add(Status(contexts));
        command.Subcommands.Add(Get(contexts));
        command.Subcommands.Add(Watch(contexts));
        return command;
    }

    public static void MapEndpoints(IEndpointRouteBuilder routes)
    {
        routes.MapPost("/v1/dag/propose", ProposeAsync);
        routes.MapGet("/v1/dag/status", async (DagConsensus dag, HttpContext http) =>
        {
            using var scope = ControlApi.OperationScope(http);
            return ToView(dag, await dag.GetStatusAsync(scope.Token));
        });
        routes.MapGet("/v1/dag/vertices/{id}", GetVertexAsync);
        routes.MapGet("/v1/dag/watch", WatchAsync);
    }

    // ---- propose ----

    private static Command Propose(CommandContextFactory contexts)
    {
        var data = new Argument<string>("data") { Description = "The payload (its UTF-8 bytes)" };
        var keys = new Option<string[]>("--conflict-key")
        {
            Description = "A conflict key (repeatable): vertices sharing a key conflict and at most one is accepted",
            AllowMultipleArgumentsPerToken = false,
        };
        var wait = new Option<bool>("--wait") { Description = "Wait until the vertex is accepted or rejected here" };
        var timeout = new Option<int?>("--timeout") { Description = "With --wait: seconds to wait (default: the node's operation timeout)" };
        timeout.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int?>() is < 1) result.AddError("--timeout must be at least 1 second");
        });
        var command = new Command("propose", "Sign a vertex with DATA and start voting on it") { data, keys, wait, timeout };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            var request = new ProposeRequest(parse.GetValue(data)!, parse.GetValue(keys) ?? [], parse.GetValue(wait), parse.GetValue(timeout));
            using var client = ControlClient.Open(context.NodeHome);
            var result = await client.PostAsync<ProposeRequest, ProposeResponse>("v1/dag/propose", request, cancellationToken);
            context.Output.Result(result, text =>
            {
                text.WriteLine($"proposed vertex {result.Id} at height {result.Height}" +
                    (result.ConflictKeys.Count == 0 ? "" : $" (conflict keys: {string.Join(", ", result.ConflictKeys)})"));
                text.WriteLine(result.LatencyMs is { } ms ? $"{result.Status} in {ms:0.#} ms" : $"status: {result.Status}");
            });
            return ExitCodes.Success;
        });
        return command;
    }

    private static async Task<ProposeResponse> ProposeAsync(ProposeRequest request, DagConsensus dag, HttpContext http)
    {
        if (request.Data is null) throw new ApiException(400, "no data to propose");
        var keys = (request.ConflictKeys ?? []).Where(k => !string.IsNullOrEmpty(k)).Select(ConflictKey.FromText).ToList();
        using var scope = ControlApi.OperationScope(http);
        DagProposal proposal;
        try
        {
            proposal = await dag.ProposeAsync(Encoding.UTF8.GetBytes(request.Data), keys, scope.Token);
        }
        catch (ConflictKeyInUseException e)
        {
            throw new ApiException(409, e.Message, e);
        }
        var vertex = proposal.Vertex;
        string status = "processing";
        double? latency = null;
        if (proposal.Decision.IsCompleted || request.Wait)
        {
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(scope.Token);
            if (request.TimeoutSeconds is { } seconds) wait.CancelAfter(TimeSpan.FromSeconds(seconds));
            try
            {
                var decision = await proposal.Decision.WaitAsync(wait.Token);
                status = Name(decision.Outcome);
                latency = decision.Latency.TotalMilliseconds;
            }
            catch (OperationCanceledException) when (!http.RequestAborted.IsCancellationRequested)
            {
                throw new ApiException(504, $"vertex {vertex.Id} was proposed but not decided in time; follow it with `p2p dag get {vertex.Id}`");
            }
        }
        return new ProposeResponse(vertex.Id.ToString(), vertex.Height, [.. vertex.Parents.Select(p => p.ToString())],
            [.. vertex.ConflictKeys.Select(k => k.ToString())], status, latency);
    }

    // ---- status ----

    private static Command Status(CommandContextFactory contexts)
    {
        var command = new Command("status", "Show the frontier, the finalized count and what is pending");
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            using var client = ControlClient.Open(context.NodeHome);
            var status = await client.GetAsync<StatusResponse>("v1/dag/status", cancellationToken);
            context.Output.Result(status, text => PrintStatus(text, status));
            return ExitCodes.Success;
        });
        return command;
    }

    private static StatusResponse ToView(DagConsensus dag, DagStatus status)
    {
        var refused = new Dictionary<string, long>(status.Counters.RefusedByReason, StringComparer.Ordinal);
        foreach (var (reason, count) in status.DecodeRefused) refused[reason] = refused.GetValueOrDefault(reason) + count;
        return new StatusResponse(status.Name, dag.LocalPeer.ToString(), status.Membership, status.Members, status.Finalized, status.Accepted,
            status.Rejected, status.Processing, status.Pending, status.Vertices, status.Tips, [.. status.Frontier.Select(id => id.ToString())],
            [.. status.Undecided.Select(id => id.ToString())], status.OutstandingPolls, status.Counters.PollsStarted, status.Counters.PollsTimedOut,
            status.Counters.MessagesSent, status.Counters.MessagesReceived,
            [.. status.Equivocations.Select(p => new EquivocationView(p.Author.ToString(), p.Key.ToString(), p.First.Id.ToString(), p.Second.Id.ToString(), p.DetectedAt))],
            refused, status.InboxDropped, status.SendsLimited + status.SendsFailed);
    }

    private static void PrintStatus(TextWriter text, StatusResponse status)
    {
        text.WriteLine($"dag {status.Name} on {status.PeerId}");
        text.WriteLine($"voters:    {status.Members} ({(status.Membership == "validators" ? "validator set" : "announced on the swarm")})");
        text.WriteLine($"finalized: {status.Finalized} ({status.Accepted} accepted, {status.Rejected} rejected)");
        text.WriteLine($"pending:   {status.Processing} being voted on, {status.WaitingForParents} waiting for parents");
        text.WriteLine($"frontier:  {status.Tips} tips");
        foreach (var id in status.Frontier.Take(16)) text.WriteLine($"  {id}");
        if (status.Frontier.Count > 16) text.WriteLine($"  ... {status.Frontier.Count - 16} more (--json lists them)");
        if (status.Undecided.Count > 0)
        {
            text.WriteLine("undecided:");
            foreach (var id in status.Undecided.Take(16)) text.WriteLine($"  {id}");
        }
        text.WriteLine($"polls:     {status.PollsStarted} started, {status.PollsTimedOut} timed out, {status.OutstandingPolls} in flight; " +
            $"messages {status.MessagesSent} sent, {status.MessagesReceived} received");
        if (status.Equivocations.Count > 0)
        {
            text.WriteLine($"equivocations: {status.Equivocations.Count}");
            foreach (var e in status.Equivocations) text.WriteLine($"  {e.Author}: {e.First} and {e.Second} both spend '{e.ConflictKey}'");
        }
        if (status.Refused.Count > 0)
            text.WriteLine($"refused:   {string.Join(", ", status.Refused.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key} {kv.Value}"))}");
        if (status.InboxDropped + status.SendsDropped > 0) text.WriteLine($"dropped:   {status.InboxDropped} received, {status.SendsDropped} to send");
    }

    // ---- get ----

    private static Command Get(CommandContextFactory contexts)
    {
        var id = new Argument<string>("vertex-id") { Description = $"A vertex id (64 hex digits) or a unique prefix of at least {MinPrefixLength}" };
        id.Validators.Add(result =>
        {
            string text = result.GetValueOrDefault<string>() ?? "";
            if (text.Length < MinPrefixLength || text.Length > 2 * VertexId.Length || !text.All(char.IsAsciiHexDigit))
                result.AddError($"the vertex id must be {MinPrefixLength} to {2 * VertexId.Length} hex digits");
        });
        var command = new Command("get", "Show one vertex: payload, parents, conflict keys, status") { id };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            using var client = ControlClient.Open(context.NodeHome);
            var vertex = await client.GetAsync<VertexView>($"v1/dag/vertices/{parse.GetValue(id)!.ToLowerInvariant()}", cancellationToken);
            context.Output.Result(vertex, text => PrintVertex(text, vertex));
            return ExitCodes.Success;
        });
        return command;
    }

    private static async Task<VertexView> GetVertexAsync(string id, DagConsensus dag, HttpContext http)
    {
        using var scope = ControlApi.OperationScope(http);
        VertexId vertexId;
        if (!VertexId.TryParse(id, out vertexId))
        {
            if (id.Length < MinPrefixLength || !id.All(char.IsAsciiHexDigit))
                throw new ApiException(400, $"'{id}' is not a vertex id or a prefix of at least {MinPrefixLength} hex digits");
            var matches = await dag.FindByPrefixAsync(id, 2, scope.Token);
            if (matches.Count == 0) throw new ApiException(404, $"no vertex {id}... on this node");
            if (matches.Count > 1) throw new ApiException(400, $"'{id}' matches several vertices; give more digits");
            vertexId = matches[0];
        }
        var info = await dag.GetVertexAsync(vertexId, scope.Token) ?? throw new ApiException(404, $"no vertex {vertexId} on this node");
        var v = info.Vertex;
        var (payload, encoding) = Display(v.Payload.Span);
        return new VertexView(v.Id.ToString(), v.Author.ToString(), v.Height, v.Timestamp, [.. v.Parents.Select(p => p.ToString())],
            [.. info.Children.Select(c => c.ToString())], [.. v.ConflictKeys.Select(k => k.ToString())], payload, encoding, v.Payload.Length,
            info.Status is { } s ? Name(s) : "waiting for parents", info.Status is null ? null : info.FirstSeen, info.DecidedAt,
            info.DecidedAt is { } decided ? (decided - info.FirstSeen).TotalMilliseconds : null, info.Confidence, info.StronglyPreferred,
            [.. info.Missing.Select(m => m.ToString())]);
    }

    private static (string Text, string Encoding) Display(ReadOnlySpan<byte> payload)
    {
        try
        {
            string text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(payload);
            if (text.All(c => !char.IsControl(c) || c is '\n' or '\t')) return (text, "utf-8");
        }
        catch (DecoderFallbackException)
        {
        }
        return (Convert.ToBase64String(payload), "base64");
    }

    private static void PrintVertex(TextWriter text, VertexView v)
    {
        text.WriteLine($"vertex {v.Id}");
        text.WriteLine($"  status:    {v.Status}" + (v.LatencyMs is { } ms ? $" after {ms:0.#} ms" : "") +
            (v.Status == "processing" ? $" (confidence {v.Confidence}, {(v.StronglyPreferred ? "preferred" : "not preferred")} here)" : ""));
        text.WriteLine($"  author:    {v.Author}");
        text.WriteLine($"  height:    {v.Height}, created {v.Timestamp:u}");
        if (v.FirstSeen is { } seen) text.WriteLine($"  seen here: {seen:u}" + (v.DecidedAt is { } d ? $", decided {d:u}" : ""));
        text.WriteLine($"  conflict keys: {(v.ConflictKeys.Count == 0 ? "none" : string.Join(", ", v.ConflictKeys))}");
        text.WriteLine($"  payload ({v.PayloadBytes} bytes, {v.PayloadEncoding}): {v.Payload}");
        text.WriteLine($"  parents:   {(v.Parents.Count == 0 ? "none" : "")}");
        foreach (var p in v.Parents) text.WriteLine($"    {p}");
        text.WriteLine($"  children:  {(v.Children.Count == 0 ? "none here" : "")}");
        foreach (var c in v.Children) text.WriteLine($"    {c}");
        foreach (var m in v.MissingParents) text.WriteLine($"  missing parent: {m}");
    }

    // ---- watch ----

    private static Command Watch(CommandContextFactory contexts)
    {
        var command = new Command("watch", "Print vertices as they arrive and are decided, until Ctrl+C");
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            // Through the control client: the node's endpoint is verified before the token is sent, and a connect
            // timeout or refusal gets the same error codes as every other command.
            using var client = ControlClient.Open(context);
            try
            {
                await foreach (var e in client.StreamAsync<WatchEvent>("v1/dag/watch", () => context.Output.Notice("watching the DAG (Ctrl+C to stop)"),
                    cancellationToken))
                {
                    context.Output.ResultLine(e, text => text.WriteLine(e.Event switch
                    {
                        "equivocation" => $"{e.At:HH:mm:ss.fff} EQUIVOCATION by {e.Equivocator}: {e.Id} and {e.ConflictingVertex} share '{string.Join(", ", e.ConflictKeys)}'",
                        "added" => $"{e.At:HH:mm:ss.fff} added    {e.Id} (height {e.Height}{Keys(e)}) by {e.Author}",
                        _ => $"{e.At:HH:mm:ss.fff} {e.Event,-8} {e.Id} after {e.LatencyMs:0.#} ms{Keys(e)}",
                    }));
                }
                throw new UnreachableException("StreamAsync ends only by throwing");
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return ExitCodes.Success; // Ctrl+C is how watching ends
            }
            catch (Exception e) when (e is HttpRequestException or IOException or JsonException)
            {
                throw new CliException($"the event stream broke: {e.Message}", inner: e);
            }
        });
        return command;
    }

    private static string Keys(WatchEvent e) => e.ConflictKeys.Count == 0 ? "" : $", keys {string.Join(", ", e.ConflictKeys)}";

    private static async Task WatchAsync(DagConsensus dag, IHostApplicationLifetime lifetime, HttpContext http)
    {
        using var watcher = dag.Watch();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, lifetime.ApplicationStopping);
        try
        {
            http.Response.ContentType = "application/x-ndjson";
            await http.Response.StartAsync(stop.Token);
            await http.Response.Body.FlushAsync(stop.Token);
            await foreach (var e in watcher.WithCancellation(stop.Token))
            {
                var v = e.Vertex;
                var line = new WatchEvent(e.Kind.ToString().ToLowerInvariant(), v.Id.ToString(), v.Author.ToString(), v.Height,
                    [.. (e.Proof is { } proof ? [proof.Key] : v.ConflictKeys).Select(k => k.ToString())], e.At, e.Decision?.Latency.TotalMilliseconds,
                    e.Proof?.Author.ToString(), e.Proof?.First.Id.ToString());
                await JsonSerializer.SerializeAsync(http.Response.Body, line, LineOptions, stop.Token);
                await http.Response.Body.WriteAsync("\n"u8.ToArray(), stop.Token);
                await http.Response.Body.FlushAsync(stop.Token);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The client went away or the node is stopping.
        }
    }

    private static string Name(VertexStatus status) => status switch
    {
        VertexStatus.Accepted => "accepted",
        VertexStatus.Rejected => "rejected",
        _ => "processing",
    };
}
