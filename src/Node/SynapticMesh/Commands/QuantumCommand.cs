using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using P2PStack.Network;
using P2PStack.Security.Noise;
using SynapticMesh.Api;
using SynapticMesh.Cli;

namespace SynapticMesh.Commands;

/// <summary>
/// <c>p2p quantum &lt;multiaddr|peer id&gt; [--level 1|3|5]</c>: opens (or reuses) a connection secured by the hybrid
/// X25519 + ML-KEM Noise suite of that level and reports the suite and the handshake time.
/// </summary>
public static class QuantumCommand
{
    public sealed record QuantumRequest(string Target, int Level);

    public sealed record QuantumResponse(string PeerId, string Address, string Suite, int Level, double HandshakeMs, bool Reused);

    public static Command Create(CommandContextFactory contexts)
    {
        var target = new Argument<string>("target") { Description = "Multiaddr or peer id of the peer" };
        var level = new Option<int>("--level")
        {
            Description = "NIST security level: 1 = ML-KEM-512, 3 = ML-KEM-768, 5 = ML-KEM-1024",
            DefaultValueFactory = _ => 3,
        };
        level.AcceptOnlyFromAmong("1", "3", "5");
        var command = new Command("quantum", "Open a post-quantum (hybrid ML-KEM) connection to a peer") { target, level };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            string peer = parse.GetValue(target)!;
            PeerTargets.Validate(peer, allowPeerId: true);
            using var client = ControlClient.Open(context);
            var result = await client.PostAsync<QuantumRequest, QuantumResponse>("v1/quantum",
                new QuantumRequest(peer, parse.GetValue(level)), cancellationToken);
            context.Output.Result(result, text =>
            {
                text.WriteLine($"post-quantum connection to {result.PeerId}{(result.Reused ? " (existing)" : "")}");
                text.WriteLine($"  address:   {result.Address}");
                text.WriteLine($"  suite:     {result.Suite} (level {result.Level})");
                text.WriteLine($"  handshake: {result.HandshakeMs:0.###} ms");
            });
            return ExitCodes.Success;
        });
        return command;
    }

    public static void MapEndpoint(IEndpointRouteBuilder routes) =>
        routes.MapPost("/v1/quantum", async (QuantumRequest request, IPeerHost host, IEnumerable<ISecureChannel> channels, HttpContext http) =>
        {
            using var scope = ControlApi.OperationScope(http);
            if (request.Level is not (1 or 3 or 5)) throw new ApiException(400, $"level must be 1, 3 or 5, not {request.Level}");
            var suite = NoiseSuite.ForLevel((PostQuantumLevel)request.Level);
            if (!channels.Any(c => c.ProtocolId == suite.ProtocolId))
                throw new ApiException(400, $"this node does not offer {suite.ProtocolId} (excluded by its post-quantum policy)");
            var before = host.GetConnections();
            var connection = await PeerTargets.ConnectAsync(host, request.Target,
                new DialOptions { SecurityProtocols = [suite.ProtocolId] }, scope.Token);
            return new QuantumResponse(connection.RemotePeer.ToString(), connection.RemoteAddress.ToString(),
                connection.SecurityProtocol, request.Level, connection.SecurityHandshakeDuration.TotalMilliseconds,
                before.Contains(connection));
        });
}
