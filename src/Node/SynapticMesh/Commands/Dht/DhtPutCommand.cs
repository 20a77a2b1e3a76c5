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
/// <c>p2p dht put &lt;key&gt; &lt;value|-&gt; [--file PATH]</c>: validates and stores a record locally, then on the k
/// peers closest to its key (see <see cref="DhtKeys"/> for keys).
/// </summary>
public static class DhtPutCommand
{
    public sealed record PutRequest(string Key, string ValueBase64);

    /// <param name="StoredOn">Peers that acknowledged the record (0: stored on this node only).</param>
    public sealed record PutResponse(string Key, int Bytes, int StoredOn);

    /// <summary>Values larger than this are not sent; the DHT's own limit is smaller (its validators say by how much).</summary>
    private const int SendCap = 1024 * 1024;

    public static Command Create(CommandContextFactory contexts)
    {
        var key = new Argument<string>("key") { Description = "/namespace/name, or a plain name for /v/name" };
        var value = new Argument<string?>("value") { Description = "The value (text), or - to read it from stdin", Arity = ArgumentArity.ZeroOrOne };
        var file = new Option<string?>("--file") { Description = "Read the value from this file (- for stdin)", HelpName = "path" };
        var command = new Command("put", "Store a record in the DHT") { key, value, file };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            string recordKey = DhtKeys.RecordKey(parse.GetValue(key)!);
            var (bytes, overCap, size) = await ContentInput.ReadAsync(parse.GetValue(value), parse.GetValue(file), SendCap, cancellationToken);
            if (overCap) throw new CliException(ContentInput.TooLarge("the value", size, SendCap), code: ErrorCodes.Invalid);
            using var client = ControlClient.Open(context);
            PutResponse result;
            await using (context.Output.Progress($"storing {recordKey} on the DHT"))
                result = await client.PostAsync<PutRequest, PutResponse>("v1/dht/put", new PutRequest(recordKey, Convert.ToBase64String(bytes)),
                    cancellationToken);
            context.Output.Result(result, text => text.WriteLine(result.StoredOn == 0
                ? $"stored {TerminalText.Escape(result.Key)} ({result.Bytes} bytes) on this node only: no DHT peer is known yet"
                : $"stored {TerminalText.Escape(result.Key)} ({result.Bytes} bytes) on this node and {result.StoredOn} peer{(result.StoredOn == 1 ? "" : "s")}"));
            return ExitCodes.Success;
        });
        return command;
    }

    public static void MapEndpoint(IEndpointRouteBuilder routes) =>
        routes.MapPost("/v1/dht/put", async (PutRequest request, KademliaDht dht, HttpContext http) =>
        {
            byte[] key = Encoding.UTF8.GetBytes(request.Key ?? "");
            byte[] value;
            try
            {
                value = Convert.FromBase64String(request.ValueBase64 ?? "");
            }
            catch (FormatException)
            {
                throw ApiException.BadRequest("the value is not base64");
            }
            using var scope = ControlApi.OperationScope(http);
            int stored;
            try
            {
                stored = await dht.PutValueAsync(key, value, scope.Token);
            }
            catch (DhtNoPeersException)
            {
                stored = 0; // validated and stored locally before the lookup found nobody
            }
            return new PutResponse(request.Key!, value.Length, stored);
        });
}
