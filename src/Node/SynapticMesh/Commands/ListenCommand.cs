using System.CommandLine;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;
using P2PStack.Neural;
using SynapticMesh.Api;
using SynapticMesh.Cli;

namespace SynapticMesh.Commands;

/// <summary>
/// <c>p2p listen [--agent NAME]</c>: prints the messages the node receives until Ctrl+C (one JSON object per line
/// with --json). With --agent, the agent is registered on the node (and published in the DHT) while listening, and
/// only messages to it are shown. The node streams them as newline-delimited JSON over a chunked HTTP response.
/// </summary>
public static class ListenCommand
{
    public sealed record ListenEvent(string Id, string Type, string From, string? FromAgent, string To, int Priority, string Content,
        DateTimeOffset ReceivedAt, string? CorrelationId, int Hops);

    private static readonly JsonSerializerOptions LineOptions = new(CliOutput.JsonOptions) { WriteIndented = false };

    public static Command Create(CommandContextFactory contexts)
    {
        var agent = new Option<string?>("--agent") { Description = "Listen as this agent: register it on the node and show only its messages" };
        agent.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string?>() is { } name && !NeuralProtocol.IsValidName(name))
                result.AddError("--agent must be 1 to 64 of A-Z a-z 0-9 . _ -");
        });
        var command = new Command("listen", "Print received messages until Ctrl+C") { agent };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            string? name = parse.GetValue(agent);
            var endpoint = ApiEndpointFile.TryLoad(context.NodeHome)
                ?? throw new CliException($"no node is running on {context.NodeHome.Directory}; start it with `synaptic-mesh p2p start`");
            using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(5) })
            {
                BaseAddress = endpoint.BaseAddress,
                Timeout = Timeout.InfiniteTimeSpan,
            };
            await ControlClient.VerifyEndpointAsync(http, endpoint, cancellationToken);
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", endpoint.Token);
            string path = name is null ? "v1/listen" : $"v1/listen?agent={Uri.EscapeDataString(name)}";
            try
            {
                using var response = await http.GetAsync(path, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
                if (!response.IsSuccessStatusCode)
                {
                    var error = await ReadErrorAsync(response, cancellationToken);
                    throw new CliException(error);
                }
                context.Output.Notice(name is null ? "listening for messages (Ctrl+C to stop)" : $"listening as agent {name} (Ctrl+C to stop)");
                using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken));
                while (await reader.ReadLineAsync(cancellationToken) is { } line)
                {
                    if (line.Length == 0) continue;
                    var message = JsonSerializer.Deserialize<ListenEvent>(line, CliOutput.JsonOptions)
                        ?? throw new CliException("the node sent an empty message line");
                    context.Output.ResultLine(message, text => text.WriteLine(
                        $"{message.ReceivedAt:HH:mm:ss.fff} {message.Type} p{message.Priority} {message.FromAgent ?? message.From} -> {message.To}: {message.Content}"));
                }
                throw new CliException("the node ended the stream (it is stopping)");
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return ExitCodes.Success; // Ctrl+C is how listening ends
            }
            catch (HttpRequestException e) when (e.InnerException is SocketException || e.HttpRequestError == HttpRequestError.ConnectionError)
            {
                throw new CliException("the node is not running (no answer on its control API); start it with `synaptic-mesh p2p start`", inner: e);
            }
            catch (Exception e) when (e is HttpRequestException or IOException or JsonException)
            {
                throw new CliException($"the message stream broke: {e.Message}", inner: e);
            }
        });
        return command;
    }

    public static void MapEndpoint(IEndpointRouteBuilder routes) =>
        routes.MapGet("/v1/listen", async (string? agent, NeuralMesh mesh, IHostApplicationLifetime lifetime, HttpContext http) =>
        {
            if (agent is not null && !NeuralProtocol.IsValidName(agent)) throw new ApiException(400, $"'{agent}' is not a valid agent name");
            using var listener = mesh.Listen(agent);
            // An agent registered by this listen goes away with it; one registered otherwise stays.
            bool registered = agent is not null && !mesh.IsLocalAgent(agent);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, lifetime.ApplicationStopping);
            try
            {
                if (registered) await mesh.RegisterAgentAsync(agent!, stop.Token);
                http.Response.ContentType = "application/x-ndjson";
                await http.Response.StartAsync(stop.Token);
                await http.Response.Body.FlushAsync(stop.Token);
                await foreach (var message in listener.WithCancellation(stop.Token))
                {
                    var line = new ListenEvent(message.Id.ToString(), message.TypeName, message.SourcePeer.ToString(),
                        message.SourceAgent.Length > 0 ? message.SourceAgent : null, message.Destination.ToString(), message.Priority,
                        message.Content, message.ReceivedAt, message.CorrelationId?.ToString(), message.Hops);
                    await JsonSerializer.SerializeAsync(http.Response.Body, line, LineOptions, stop.Token);
                    await http.Response.Body.WriteAsync("\n"u8.ToArray(), stop.Token);
                    await http.Response.Body.FlushAsync(stop.Token);
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                // The client went away or the node is stopping.
            }
            finally
            {
                if (registered) mesh.UnregisterAgent(agent!);
            }
        });

    private static async Task<string> ReadErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            var error = await JsonSerializer.DeserializeAsync<ApiError>(await response.Content.ReadAsStreamAsync(cancellationToken),
                CliOutput.JsonOptions, cancellationToken);
            if (error?.Error is { Length: > 0 } text) return text.ReplaceLineEndings(" ");
        }
        catch (JsonException)
        {
        }
        return $"the node refused the request ({(int)response.StatusCode} {response.ReasonPhrase})";
    }
}
