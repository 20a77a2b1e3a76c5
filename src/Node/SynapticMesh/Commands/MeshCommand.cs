using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using SynapticMesh.Api;
using SynapticMesh.Cli;
using SynapticMesh.Node;

namespace SynapticMesh.Commands;

/// <summary>
/// <c>p2p mesh add &lt;multiaddr&gt; [--name N]</c>, <c>p2p mesh remove &lt;peer id|name&gt;</c>, <c>p2p mesh list</c>,
/// <c>p2p mesh health [--count N]</c>: known hosts the node dials and keeps connected.
/// </summary>
public static class MeshCommand
{
    public sealed record AddRequest(string Address, string? Name);

    public sealed record RemoveRequest(string Host);

    public sealed record HealthRequest(int Count);

    public sealed record MeshList(IReadOnlyList<MeshHostStatus> Hosts);

    public const int MaxPingCount = 20;

    public static Command Create(CommandContextFactory contexts)
    {
        var command = new Command("mesh", "Known hosts: dialed, kept connected and checked");

        var address = new Argument<string>("multiaddr") { Description = "The host's multiaddr (with /p2p/<peer id> to pin its key now)" };
        var name = new Option<string?>("--name") { Description = "A name for the host (default: its address)" };
        var add = new Command("add", "Add a known host and dial it") { address, name };
        add.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            string text = parse.GetValue(address)!;
            PeerTargets.Validate(text, allowPeerId: false);
            using var client = ControlClient.Open(context.NodeHome);
            var result = await client.PostAsync<AddRequest, MeshHostStatus>("v1/mesh/add", new AddRequest(text, parse.GetValue(name)), cancellationToken);
            context.Output.Result(result, t => t.WriteLine($"added {result.Name} ({result.Address}): "
                + (result.Online ? $"online, peer {result.PeerId}" : $"offline: {result.Error}")));
            return ExitCodes.Success;
        });
        command.Subcommands.Add(add);

        var host = new Argument<string>("host") { Description = "The host's name or peer id" };
        var remove = new Command("remove", "Forget a known host") { host };
        remove.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            using var client = ControlClient.Open(context.NodeHome);
            var result = await client.PostAsync<RemoveRequest, MeshHost>("v1/mesh/remove", new RemoveRequest(parse.GetValue(host)!), cancellationToken);
            context.Output.Result(result, t => t.WriteLine($"removed {result.Name} ({result.Address})"));
            return ExitCodes.Success;
        });
        command.Subcommands.Add(remove);

        var list = new Command("list", "List known hosts with online/offline and latency");
        list.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            using var client = ControlClient.Open(context.NodeHome);
            var result = await client.GetAsync<MeshList>("v1/mesh", cancellationToken);
            context.Output.Result(result, t => Print(t, result, health: false));
            return ExitCodes.Success;
        });
        command.Subcommands.Add(list);

        var count = new Option<int>("--count", "-c") { Description = "Pings per host", DefaultValueFactory = _ => 3 };
        count.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() is < 1 or > MaxPingCount) r.AddError($"--count must be 1 to {MaxPingCount}");
        });
        var health = new Command("health", "Ping every known host: status, RTT current/min/mean/max, last seen") { count };
        health.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            using var client = ControlClient.Open(context.NodeHome);
            var result = await client.PostAsync<HealthRequest, MeshList>("v1/mesh/health", new HealthRequest(parse.GetValue(count)), cancellationToken);
            context.Output.Result(result, t => Print(t, result, health: true));
            return ExitCodes.Success;
        });
        command.Subcommands.Add(health);
        return command;
    }

    private static string Ms(double? value) => value is { } v ? $"{v:0.###} ms" : "-";

    private static void Print(TextWriter text, MeshList list, bool health)
    {
        if (list.Hosts.Count == 0)
        {
            text.WriteLine("no known hosts (add one with `synaptic-mesh p2p mesh add <multiaddr> [--name N]`)");
            return;
        }
        foreach (var h in list.Hosts)
        {
            text.WriteLine($"{h.Name}  {(h.Online ? "online" : "offline")}  {h.Address}");
            if (h.PeerId is not null) text.WriteLine($"  peer:      {h.PeerId}");
            text.WriteLine(health
                ? $"  rtt:       current {Ms(h.RttMs)}, min {Ms(h.MinRttMs)}, mean {Ms(h.MeanRttMs)}, max {Ms(h.MaxRttMs)} ({h.Samples} samples)"
                : $"  latency:   {Ms(h.RttMs)}");
            text.WriteLine($"  last seen: {(h.LastSeen is { } seen ? seen.ToString("u") : "never")}");
            if (h.Error is not null) text.WriteLine($"  error:     {h.Error.ReplaceLineEndings(" ")}");
        }
    }

    public static void MapEndpoints(IEndpointRouteBuilder routes)
    {
        routes.MapPost("/v1/mesh/add", async (AddRequest request, MeshManager mesh, HttpContext http) =>
        {
            using var scope = ControlApi.OperationScope(http);
            return await mesh.AddAsync(request.Address ?? "", request.Name, scope.Token);
        });
        routes.MapPost("/v1/mesh/remove", (RemoveRequest request, MeshManager mesh) =>
            mesh.Remove(request.Host ?? "") ?? throw new ApiException(404, $"no mesh host named or with peer id '{request.Host}'"));
        routes.MapGet("/v1/mesh", (MeshManager mesh) => new MeshList(mesh.List()));
        routes.MapPost("/v1/mesh/health", async (HealthRequest request, MeshManager mesh, HttpContext http) =>
        {
            if (request.Count is < 1 or > MaxPingCount) throw new ApiException(400, $"count must be 1 to {MaxPingCount}");
            using var scope = ControlApi.OperationScope(http);
            return new MeshList(await mesh.HealthAsync(request.Count, scope.Token));
        });
    }
}
