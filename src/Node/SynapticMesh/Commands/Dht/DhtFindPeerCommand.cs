using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Protocols.Kademlia;
using SynapticMesh.Api;
using SynapticMesh.Cli;

namespace SynapticMesh.Commands;

/// <summary><c>p2p dht findpeer &lt;peer id&gt;</c>: the addresses of a peer (known when connected, else by a FIND_NODE lookup).</summary>
public static class DhtFindPeerCommand
{
    public sealed record FindPeerResponse(string PeerId, IReadOnlyList<string> Addresses, bool Connected);

    public static Command Create(CommandContextFactory contexts)
    {
        var peer = new Argument<string>("peer id") { Description = "The peer to find" };
        var command = new Command("findpeer", "Find the addresses of a peer through the DHT") { peer };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            string id = parse.GetValue(peer)!;
            if (!PeerId.TryParse(id, out _)) throw CliException.Usage($"'{TerminalText.Escape(id)}' is not a peer id");
            using var client = ControlClient.Open(context);
            FindPeerResponse result;
            await using (context.Output.Progress($"looking for {id} on the DHT"))
                result = await client.GetAsync<FindPeerResponse>($"v1/dht/findpeer?peer={Uri.EscapeDataString(id)}", cancellationToken);
            context.Output.Result(result, text =>
            {
                text.WriteLine($"{result.PeerId}{(result.Connected ? " (connected)" : "")}");
                foreach (string address in result.Addresses) text.WriteLine($"  {TerminalText.Escape(address)}");
            });
            return ExitCodes.Success;
        });
        return command;
    }

    public static void MapEndpoint(IEndpointRouteBuilder routes) =>
        routes.MapGet("/v1/dht/findpeer", async (string peer, KademliaDht dht, IPeerHost host, HttpContext http) =>
        {
            if (!PeerId.TryParse(peer, out var id)) throw ApiException.BadRequest($"'{peer}' is not a peer id");
            using var scope = ControlApi.OperationScope(http);
            PeerInfo found;
            try
            {
                found = await dht.FindPeerAsync(id!, scope.Token);
            }
            catch (DhtNotFoundException)
            {
                throw ApiException.NotFound($"no DHT peer reached knows the addresses of {peer}");
            }
            return new FindPeerResponse(found.Peer.ToString(), [.. found.Addresses.Select(a => a.ToString())], host.GetConnections(id!).Count > 0);
        });
}
