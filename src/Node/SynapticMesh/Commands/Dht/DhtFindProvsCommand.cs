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
/// <c>p2p dht findprovs &lt;key|cid&gt; [--count N]</c>: providers of the content, local ones first, then from a
/// GET_PROVIDERS lookup that stops at the node's limit (KademliaOptions.MaxProvidersToFind).
/// </summary>
public static class DhtFindProvsCommand
{
    public sealed record ProvidersResponse(string Cid, IReadOnlyList<Provider> Providers);

    public sealed record Provider(string PeerId, IReadOnlyList<string> Addresses);

    public static Command Create(CommandContextFactory contexts)
    {
        var key = new Argument<string>("key") { Description = "A CID, or any text (stands for the CIDv1 raw sha2-256 of its bytes)" };
        var count = new Option<int>("--count") { Description = "Most providers listed", DefaultValueFactory = _ => 20 }
            .Check(n => n >= 1, "--count must be at least 1");
        var command = new Command("findprovs", "Find the providers of a key or CID") { key, count };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            var cid = DhtKeys.ContentKey(parse.GetValue(key)!);
            using var client = ControlClient.Open(context);
            ProvidersResponse result;
            await using (context.Output.Progress($"looking for providers of {cid}"))
                result = await client.GetAsync<ProvidersResponse>($"v1/dht/findprovs?cid={Uri.EscapeDataString(cid.ToString())}&count={parse.GetValue(count)}",
                    cancellationToken);
            context.Output.Table(result, () =>
            {
                var table = new Table("PROVIDER", "ADDRESSES");
                foreach (var provider in result.Providers) table.AddLines([provider.PeerId], provider.Addresses);
                return table;
            }, $"{result.Providers.Count} provider{(result.Providers.Count == 1 ? "" : "s")} of {result.Cid}");
            if (result.Providers.Count == 0 && !context.Output.Json) context.Output.Notice($"no provider of {result.Cid} found");
            return ExitCodes.Success;
        });
        return command;
    }

    public static void MapEndpoint(IEndpointRouteBuilder routes) =>
        routes.MapGet("/v1/dht/findprovs", async (string cid, int? count, KademliaDht dht, HttpContext http) =>
        {
            var content = Cid.Parse(cid);
            if (count is < 1) throw ApiException.BadRequest("count must be at least 1");
            using var scope = ControlApi.OperationScope(http);
            IReadOnlyList<PeerInfo> providers;
            try
            {
                providers = await dht.FindProvidersAsync(content, scope.Token);
            }
            catch (DhtNoPeersException)
            {
                providers = []; // only the local store could answer, and FindProviders read it first
            }
            return new ProvidersResponse(content.ToString(), [.. providers.Take(count ?? 20)
                .Select(p => new Provider(p.Peer.ToString(), [.. p.Addresses.Select(a => a.ToString())]))]);
        });
}
