using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using P2PStack.Network;
using P2PStack.Protocols.Ping;
using SynapticMesh.Api;
using SynapticMesh.Cli;

namespace SynapticMesh.Commands;

/// <summary><c>p2p ping &lt;multiaddr|peer id|/shadow/...|shadow:...&gt; [--count N]</c>: round trips over /ipfs/ping/1.0.0
/// (to a shadow address: over a private connection through its introduction point, to its service identity).</summary>
public static class PingCommand
{
    public sealed record PingRequest(string Target, int Count);

    /// <summary>The round trips, and their minimum, mean and maximum (all in milliseconds).</summary>
    public sealed record PingResponse(string PeerId, IReadOnlyList<double> RttMs, double MinMs, double AvgMs, double MaxMs);

    public static Command Create(CommandContextFactory contexts)
    {
        var target = new Argument<string>("target") { Description = "Multiaddr or peer id of the peer, or a shadow address (/shadow/... or shadow:...)" };
        var count = new Option<int>("--count", "-c") { Description = "Number of pings", DefaultValueFactory = _ => 1 }
            .Check(n => n >= 1, "--count must be at least 1");
        var command = new Command("ping", "Measure round trips to a peer") { target, count };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            string peer = parse.GetValue(target)!;
            if (!ShadowCommand.IsShadowTarget(peer, out _)) PeerTargets.Validate(peer, allowPeerId: true);
            int pings = parse.GetValue(count);
            using var client = ControlClient.Open(context);
            PingResponse result;
            await using (context.Output.Progress($"pinging {peer} ({pings} round trips)"))
                result = await client.PostAsync<PingRequest, PingResponse>("v1/ping", new PingRequest(peer, pings), cancellationToken);
            context.Output.Result(result, text =>
            {
                for (int i = 0; i < result.RttMs.Count; i++) text.WriteLine($"ping {result.PeerId}: seq={i + 1} time={result.RttMs[i]:0.###} ms");
                text.WriteLine($"{result.RttMs.Count} pings: min {result.MinMs:0.###} ms, avg {result.AvgMs:0.###} ms, max {result.MaxMs:0.###} ms");
            });
            return ExitCodes.Success;
        });
        return command;
    }

    public static void MapEndpoint(IEndpointRouteBuilder routes) =>
        routes.MapPost("/v1/ping", async (PingRequest request, IPeerHost host, PingService ping, IOptions<ControlApiOptions> options,
            IServiceProvider services, HttpContext http) =>
        {
            int max = options.Value.MaxPingCount;
            if (request.Count < 1 || request.Count > max) throw new ApiException(400, $"count must be between 1 and {max}");
            using var scope = ControlApi.OperationScope(http);
            if (ShadowCommand.IsShadowTarget(request.Target, out var shadow))
            {
                // A private connection under an ephemeral identity, to the address's service identity: pinged over it, closed after.
                var hidden = await ShadowCommand.ConnectAsync(services, shadow, scope.Token);
                try
                {
                    await using var stream = await hidden.OpenStreamAsync([PingProtocol.Id], scope.Token);
                    double[] times = [.. (await ping.PingAsync(stream, request.Count, scope.Token)).Select(r => r.TotalMilliseconds)];
                    return new PingResponse(hidden.RemotePeer.ToString(), times, times.Min(), times.Average(), times.Max());
                }
                finally
                {
                    await hidden.CloseAsync(CancellationToken.None);
                }
            }
            var connection = await PeerTargets.ConnectAsync(host, request.Target, scope.Token);
            var rtts = await ping.PingAsync(connection.RemotePeer, request.Count, scope.Token);
            double[] ms = [.. rtts.Select(r => r.TotalMilliseconds)];
            return new PingResponse(connection.RemotePeer.ToString(), ms, ms.Min(), ms.Average(), ms.Max());
        });
}
