using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using P2PStack.Encoding;
using P2PStack.Protocols.Kademlia;
using SynapticMesh.Api;
using SynapticMesh.Cli;

namespace SynapticMesh.Commands;

/// <summary>
/// <c>p2p dht provide &lt;key|cid&gt;</c>: announces this node as a provider of the content (keyed by the CID's
/// multihash, as go and js do) locally and on the k peers closest to it.
/// </summary>
public static class DhtProvideCommand
{
    public sealed record ProvideRequest(string Cid);

    /// <param name="SentTo">Peers the ADD_PROVIDER was sent to (0: recorded on this node only).</param>
    public sealed record ProvideResponse(string Cid, int SentTo);

    public static Command Create(CommandContextFactory contexts)
    {
        var key = new Argument<string>("key") { Description = "A CID, or any text (stands for the CIDv1 raw sha2-256 of its bytes)" };
        var command = new Command("provide", "Announce this node as a provider of a key or CID") { key };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            var cid = DhtKeys.ContentKey(parse.GetValue(key)!);
            using var client = ControlClient.Open(context);
            ProvideResponse result;
            await using (context.Output.Progress($"announcing {cid} on the DHT"))
                result = await client.PostAsync<ProvideRequest, ProvideResponse>("v1/dht/provide", new ProvideRequest(cid.ToString()), cancellationToken);
            context.Output.Result(result, text => text.WriteLine(result.SentTo == 0
                ? $"providing {result.Cid} (recorded on this node only: no DHT peer is known yet)"
                : $"providing {result.Cid} (announced to {result.SentTo} peer{(result.SentTo == 1 ? "" : "s")})"));
            return ExitCodes.Success;
        });
        return command;
    }

    public static void MapEndpoint(IEndpointRouteBuilder routes) =>
        routes.MapPost("/v1/dht/provide", async (ProvideRequest request, KademliaDht dht, HttpContext http) =>
        {
            var cid = Cid.Parse(request.Cid ?? "");
            using var scope = ControlApi.OperationScope(http);
            int sent;
            try
            {
                sent = await dht.ProvideAsync(cid, scope.Token);
            }
            catch (DhtNoPeersException)
            {
                sent = 0; // recorded locally before the lookup found nobody
            }
            return new ProvideResponse(cid.ToString(), sent);
        });
}
