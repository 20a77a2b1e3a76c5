using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using P2PStack.Network;
using P2PStack.Protocols.Ping;
using SynapticMesh.Api;
using SynapticMesh.Cli;

namespace SynapticMesh.Commands;

/// <summary><c>p2p connect &lt;multiaddr&gt;</c>: dials a peer and measures one round trip.</summary>
public static class ConnectCommand
{
    public sealed record ConnectRequest(string Address);

    public sealed record ConnectResponse(string PeerId, string Address, string SecurityProtocol, string Muxer, string Transport, double? LatencyMs);

    public static Command Create(CommandContextFactory contexts)
    {
        var address = new Argument<string>("multiaddr") { Description = "Address of the peer, e.g. /ip4/1.2.3.4/tcp/9000/p2p/12D3..." };
        var command = new Command("connect", "Connect to a peer") { address };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            string target = parse.GetValue(address)!;
            PeerTargets.Validate(target, allowPeerId: false);
            using var client = ControlClient.Open(context);
            var result = await client.PostAsync<ConnectRequest, ConnectResponse>("v1/connect", new ConnectRequest(target), cancellationToken);
            context.Output.Result(result, text =>
            {
                text.WriteLine($"connected to {result.PeerId}");
                text.WriteLine($"  address:  {result.Address}");
                text.WriteLine($"  security: {result.SecurityProtocol}, muxer: {result.Muxer}, transport: {result.Transport}");
                text.WriteLine($"  latency:  {(result.LatencyMs is { } ms ? $"{ms:0.###} ms" : "not measured (peer does not serve ping)")}");
            });
            return ExitCodes.Success;
        });
        return command;
    }

    public static void MapEndpoint(IEndpointRouteBuilder routes) =>
        routes.MapPost("/v1/connect", async (ConnectRequest request, IPeerHost host, PingService ping, ILoggerFactory logs, HttpContext http) =>
        {
            using var scope = ControlApi.OperationScope(http);
            var connection = await PeerTargets.ConnectAsync(host, request.Address, scope.Token);
            double? latency = null;
            try
            {
                // One ping fills the peer store's latency statistics that status shows.
                var rtts = await ping.PingAsync(connection.RemotePeer, 1, scope.Token);
                latency = rtts[0].TotalMilliseconds;
            }
            catch (Exception e) when (e is ProtocolNotSupportedException or IOException or InvalidDataException)
            {
                logs.CreateLogger("SynapticMesh.Connect").LogInformation("no latency sample from {Peer}: {Reason}", connection.RemotePeer, e.Message);
            }
            return new ConnectResponse(connection.RemotePeer.ToString(), connection.RemoteAddress.ToString(),
                connection.SecurityProtocol, connection.Muxer, connection.Transport, latency);
        });
}
