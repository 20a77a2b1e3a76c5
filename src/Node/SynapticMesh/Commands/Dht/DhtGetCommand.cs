using System.CommandLine;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using P2PStack.Protocols.Kademlia;
using SynapticMesh.Api;
using SynapticMesh.Cli;

namespace SynapticMesh.Commands;

/// <summary>
/// <c>p2p dht get &lt;key&gt;</c>: the best value of a record (local and from the closest peers, chosen by the key's
/// namespace validator). Text output prints the value as escaped text, or base64 when it is not UTF-8.
/// </summary>
public static class DhtGetCommand
{
    /// <param name="Value">The value as UTF-8 text, or null when it is not text.</param>
    public sealed record GetResponse(string Key, string? Value, string ValueBase64, int Bytes);

    public static Command Create(CommandContextFactory contexts)
    {
        var key = new Argument<string>("key") { Description = "/namespace/name, or a plain name for /v/name" };
        var command = new Command("get", "Find the value of a DHT record") { key };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            string recordKey = DhtKeys.RecordKey(parse.GetValue(key)!);
            using var client = ControlClient.Open(context);
            GetResponse result;
            await using (context.Output.Progress($"looking up {recordKey} on the DHT"))
                result = await client.GetAsync<GetResponse>($"v1/dht/get?key={Uri.EscapeDataString(recordKey)}", cancellationToken);
            context.Output.Result(result, text => text.WriteLine(result.Value is { } value ? TerminalText.Escape(value) : $"base64:{result.ValueBase64}"));
            return ExitCodes.Success;
        });
        return command;
    }

    public static void MapEndpoint(IEndpointRouteBuilder routes) =>
        routes.MapGet("/v1/dht/get", async (string key, KademliaDht dht, HttpContext http) =>
        {
            using var scope = ControlApi.OperationScope(http);
            byte[] value;
            try
            {
                value = await dht.GetValueAsync(Encoding.UTF8.GetBytes(key), scope.Token);
            }
            catch (DhtNotFoundException)
            {
                throw ApiException.NotFound($"no value for {key} on this node or the DHT peers it reached");
            }
            return new GetResponse(key, DhtKeys.AsText(value), Convert.ToBase64String(value), value.Length);
        });
}
