using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using P2PStack.Identity;
using P2PStack.Registry.Events;
using P2PStack.Registry.Security;
using P2PStack.Registry.Storage;

namespace P2PStack.Registry;

/// <summary>The registry's HTTP API (docs/specs/registry.md): minimal API handlers over the store.</summary>
internal static partial class RegistryEndpoints
{
    public static void Map(IEndpointRouteBuilder routes)
    {
        routes.MapGet("/", Health);
        routes.MapPost("/register", Handler(Register));
        routes.MapPost("/heartbeat", Handler(Heartbeat));
        routes.MapPost("/approve/{id}", (HttpContext context, string id) => Decide(context, id, approve: true));
        routes.MapPost("/deny/{id}", (HttpContext context, string id) => Decide(context, id, approve: false));
        routes.MapPost("/sovereign/add", Handler(AddSovereign));
        routes.MapGet("/nodes", Nodes);
        routes.MapGet("/nodes/{id}", Node);
        routes.MapGet("/topology", Handler(TopologyView));
        routes.MapGet("/graph", Handler(Graph));
        routes.MapGet("/prometheus/targets", Handler(PrometheusTargets));
        routes.MapGet("/events", EventStream);
        TopologyPage.Map(routes);
    }

    // Typed as Delegate so that the IResult is written (a bare Func<HttpContext, Task> would bind as a RequestDelegate).
    private static Delegate Handler(Func<HttpContext, Task<IResult>> handler) => handler;

    private static Registry Services(HttpContext context) => context.RequestServices.GetRequiredService<Registry>();

    private static IResult Health(HttpContext context)
    {
        var registry = Services(context);
        // Counts only for callers who may read; anyone may learn that the service is up.
        var counts = registry.Reads.IsOpenTo(context) ? registry.Store.CountByStatus() : null;
        return Results.Json(new { status = "ok", service = "synaptic-mesh-registry", nodes = counts }, RegistryJson.Options);
    }

    private static async Task<IResult> Register(HttpContext context)
    {
        var registry = Services(context);
        var signed = await registry.Verifier.VerifyAsync(context).ConfigureAwait(false);
        var request = RequestValidation.Parse<RegisterRequest>(signed.Body);
        RequestValidation.Check(request, registry.Options, signed.Signer, context.Connection.RemoteIpAddress);
        long now = registry.Now;
        bool approved = registry.Options.AutoApprove || registry.Store.IsSovereign(signed.Signer);
        var (status, created) = registry.Store.Register(signed.Signer, signed.Key.ToProtobuf(), request, now, approved,
            registry.Options.MaxNodes, registry.Options.MaxPendingNodes);
        if (created) registry.Events.Publish(RegistryEventTypes.Register, signed.Signer.ToString(), status);
        else registry.Events.Publish(RegistryEventTypes.Topology, signed.Signer.ToString(), status);
        var body = new NodeStatusResponse(signed.Signer.ToString(), status);
        return created ? Results.Json(body, RegistryJson.Options, statusCode: StatusCodes.Status201Created) : Results.Json(body, RegistryJson.Options);
    }

    private static async Task<IResult> Heartbeat(HttpContext context)
    {
        var registry = Services(context);
        var signed = await registry.Verifier.VerifyAsync(context).ConfigureAwait(false);
        var request = RequestValidation.Parse<HeartbeatRequest>(signed.Body);
        RequestValidation.Check(request, registry.Options, signed.Signer, context.Connection.RemoteIpAddress);
        var (status, cameBack) = registry.Store.Heartbeat(signed.Signer, request, registry.Now);
        string id = signed.Signer.ToString();
        if (cameBack) registry.Events.Publish(RegistryEventTypes.Online, id, status);
        registry.Events.Publish(RegistryEventTypes.Topology, id, status);
        return Results.Json(new NodeStatusResponse(id, status), RegistryJson.Options);
    }

    private static async Task<IResult> Decide(HttpContext context, string id, bool approve)
    {
        var registry = Services(context);
        var signed = await registry.Verifier.VerifyAsync(context).ConfigureAwait(false);
        if (!registry.Store.IsSovereign(signed.Signer))
            throw RegistryException.Forbidden($"{signed.Signer} is not a sovereign key: only sovereigns approve or deny nodes");
        var request = RequestValidation.ParseOptional(signed.Body, new DecisionRequest());
        if (request.Reason is { Length: > 0 } reason && (reason.Length > registry.Options.MaxFieldLength || reason.Any(char.IsControl)))
            throw RegistryException.BadRequest($"reason must be at most {registry.Options.MaxFieldLength} printable characters");
        if (!PeerId.TryParse(id, out var node)) throw RegistryException.BadRequest($"'{RequestValidation.Text(id, 64)}' is not a peer id");
        string status = registry.Store.Decide(node.ToString(), approve, signed.Signer.ToString(), request.Reason, registry.Now);
        LogDecision(registry.Logger, approve ? "approved" : "denied", node.ToString(), signed.Signer.ToString());
        registry.Events.Publish(approve ? RegistryEventTypes.Approve : RegistryEventTypes.Deny, node.ToString(), status);
        return Results.Json(new NodeStatusResponse(node.ToString(), status), RegistryJson.Options);
    }

    private static async Task<IResult> AddSovereign(HttpContext context)
    {
        var registry = Services(context);
        var signed = await registry.Verifier.VerifyAsync(context).ConfigureAwait(false);
        if (!registry.Store.IsSovereign(signed.Signer))
            throw RegistryException.Forbidden($"{signed.Signer} is not a sovereign key: only an existing sovereign adds another");
        var request = RequestValidation.Parse<SovereignAddRequest>(signed.Body);
        if (string.IsNullOrWhiteSpace(request.Key)) throw RegistryException.BadRequest("key is missing");
        if (request.Label is { } label && (label.Length > registry.Options.MaxFieldLength || label.Any(char.IsControl)))
            throw RegistryException.BadRequest($"label must be at most {registry.Options.MaxFieldLength} printable characters");
        PeerId sovereign;
        try
        {
            sovereign = SovereignKey.Parse(request.Key);
        }
        catch (FormatException e)
        {
            throw RegistryException.BadRequest(e.Message);
        }
        var (view, added) = registry.Store.AddSovereign(sovereign, request.Label, signed.Signer.ToString(), registry.Now);
        if (added)
        {
            LogSovereignAdded(registry.Logger, sovereign.ToString(), signed.Signer.ToString());
            registry.Events.Publish(RegistryEventTypes.Sovereign, sovereign.ToString(), null);
        }
        return Results.Json(view, RegistryJson.Options, statusCode: added ? StatusCodes.Status201Created : StatusCodes.Status200OK);
    }

    private static async Task<IResult> Nodes(HttpContext context, string? status)
    {
        var registry = Services(context);
        await registry.Reads.AuthorizeAsync(context).ConfigureAwait(false);
        var nodes = registry.Store.GetNodes(string.IsNullOrEmpty(status) ? null : status);
        return Results.Json(new NodeList(nodes, nodes.Count), RegistryJson.Options);
    }

    private static async Task<IResult> Node(HttpContext context, string id)
    {
        var registry = Services(context);
        await registry.Reads.AuthorizeAsync(context).ConfigureAwait(false);
        if (!PeerId.TryParse(id, out var peer)) throw RegistryException.BadRequest($"'{RequestValidation.Text(id, 64)}' is not a peer id");
        var node = registry.Store.GetNode(peer.ToString()) ?? throw RegistryException.NotFound($"node {peer} is not registered");
        return Results.Json(node, RegistryJson.Options);
    }

    private static async Task<IResult> TopologyView(HttpContext context)
    {
        var registry = Services(context);
        await registry.Reads.AuthorizeAsync(context).ConfigureAwait(false);
        return Results.Json(registry.Store.GetTopology(registry.Now), RegistryJson.Options);
    }

    private static async Task<IResult> Graph(HttpContext context)
    {
        var registry = Services(context);
        await registry.Reads.AuthorizeAsync(context).ConfigureAwait(false);
        return Results.Json(GrafanaGraph.From(registry.Store.GetTopology(registry.Now)), RegistryJson.Options);
    }

    private static async Task<IResult> PrometheusTargets(HttpContext context)
    {
        var registry = Services(context);
        await registry.Reads.AuthorizeAsync(context).ConfigureAwait(false);
        var groups = new List<object>();
        foreach (var node in registry.Store.GetNodes(NodeStatus.Active))
        {
            if (node.MetricsUrl is null || !Uri.TryCreate(node.MetricsUrl, UriKind.Absolute, out var url)) continue;
            var labels = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["__scheme__"] = url.Scheme,
                ["__metrics_path__"] = url.AbsolutePath,
                ["node_id"] = node.Id,
            };
            if (node.Name is { Length: > 0 } name) labels["node_name"] = name;
            groups.Add(new { targets = new[] { url.Authority }, labels });
        }
        return Results.Json(groups, RegistryJson.Options);
    }

    private static async Task EventStream(HttpContext context)
    {
        var registry = Services(context);
        await registry.Reads.AuthorizeAsync(context).ConfigureAwait(false);
        using var subscription = registry.Events.Subscribe()
            ?? throw RegistryException.Unavailable($"the event stream has its maximum of {registry.Options.MaxEventSubscribers} subscribers");
        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-store";
        response.Headers["X-Accel-Buffering"] = "no";
        var aborted = context.RequestAborted;
        await response.WriteAsync("retry: 2000\n\n", aborted).ConfigureAwait(false);
        await WriteEventAsync(response, new RegistryEvent("hello", null, null, registry.Options.TimeProvider.GetUtcNow()), aborted).ConfigureAwait(false);
        var reader = subscription.Reader;
        while (!aborted.IsCancellationRequested)
        {
            using var keepAlive = CancellationTokenSource.CreateLinkedTokenSource(aborted);
            keepAlive.CancelAfter(registry.Options.EventKeepAlive);
            bool ready;
            try
            {
                ready = await reader.WaitToReadAsync(keepAlive.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!aborted.IsCancellationRequested)
            {
                await response.WriteAsync(": keep-alive\n\n", aborted).ConfigureAwait(false);
                await response.Body.FlushAsync(aborted).ConfigureAwait(false);
                continue;
            }
            catch (System.Threading.Channels.ChannelClosedException)
            {
                return; // fell behind: the client reconnects and reloads
            }
            catch (OperationCanceledException)
            {
                return;
            }
            if (!ready) return;
            while (reader.TryRead(out var item)) await WriteEventAsync(response, item, aborted).ConfigureAwait(false);
            await response.Body.FlushAsync(aborted).ConfigureAwait(false);
        }
    }

    private static async Task WriteEventAsync(HttpResponse response, RegistryEvent item, CancellationToken cancellationToken)
    {
        string data = JsonSerializer.Serialize(item, RegistryJson.Options);
        await response.WriteAsync($"event: {item.Type}\ndata: {data}\n\n", cancellationToken).ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "node {NodeId} {Decision} by sovereign {Sovereign}")]
    private static partial void LogDecision(ILogger logger, string decision, string nodeId, string sovereign);

    [LoggerMessage(Level = LogLevel.Information, Message = "sovereign {Sovereign} added by {AddedBy}")]
    private static partial void LogSovereignAdded(ILogger logger, string sovereign, string addedBy);
}

/// <summary>The registry's services, resolved once per request.</summary>
internal sealed class Registry(RegistryOptions options, RegistryStore store, RequestVerifier verifier, ReadAuthorizer reads,
    RegistryEventHub events, ILogger<Registry> logger)
{
    public RegistryOptions Options { get; } = options;
    public RegistryStore Store { get; } = store;
    public RequestVerifier Verifier { get; } = verifier;
    public ReadAuthorizer Reads { get; } = reads;
    public RegistryEventHub Events { get; } = events;
    public ILogger Logger { get; } = logger;
    public long Now => Options.TimeProvider.GetUtcNow().ToUnixTimeMilliseconds();
}
