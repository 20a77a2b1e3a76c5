using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using SynapticMesh.Cli;
using SynapticMesh.Home;

namespace SynapticMesh.Api;

/// <summary>The CLI side of the control API: a thin HttpClient that turns failures into one-line errors.</summary>
public sealed class ControlClient : IDisposable
{
    private readonly HttpClient _http;

    private ControlClient(ApiEndpointFile endpoint)
    {
        _http = new HttpClient(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(5) })
        {
            BaseAddress = endpoint.BaseAddress,
            // Ping and perf runs can be long; Ctrl+C cancels instead.
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", endpoint.Token);
    }

    /// <summary>Connects to the node running on <paramref name="home"/>, or fails with "node not running".</summary>
    public static ControlClient Open(NodeHome home) =>
        new(ApiEndpointFile.TryLoad(home) ?? throw NotRunning(home));

    public Task<T> GetAsync<T>(string path, CancellationToken cancellationToken) =>
        SendAsync<T>(new HttpRequestMessage(HttpMethod.Get, path), cancellationToken);

    public Task<T> PostAsync<TRequest, T>(string path, TRequest body, CancellationToken cancellationToken) =>
        SendAsync<T>(new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body, options: CliOutput.JsonOptions) },
            cancellationToken);

    private async Task<T> SendAsync<T>(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using (request)
        {
            HttpResponseMessage response;
            try
            {
                response = await _http.SendAsync(request, cancellationToken);
            }
            catch (HttpRequestException e) when (e.InnerException is SocketException || e.HttpRequestError == HttpRequestError.ConnectionError)
            {
                throw new CliException("the node is not running (no answer on its control API); start it with `synaptic-mesh p2p start`", inner: e);
            }
            using (response)
            {
                if (!response.IsSuccessStatusCode)
                {
                    string message = await ReadErrorAsync(response, cancellationToken);
                    throw new CliException(message);
                }
                try
                {
                    return await response.Content.ReadFromJsonAsync<T>(CliOutput.JsonOptions, cancellationToken)
                        ?? throw new CliException("the node sent an empty answer");
                }
                catch (JsonException e)
                {
                    throw new CliException($"the node sent an unreadable answer: {e.Message}", inner: e);
                }
            }
        }
    }

    private static async Task<string> ReadErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            var error = await response.Content.ReadFromJsonAsync<ApiError>(CliOutput.JsonOptions, cancellationToken);
            if (error?.Error is { Length: > 0 } text) return OneLine(text);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException)
        {
            // Fall through to the status line.
        }
        return $"the node refused the request ({(int)response.StatusCode} {response.ReasonPhrase})";
    }

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");

    private static CliException NotRunning(NodeHome home) =>
        new($"no node is running on {home.Directory}; start it with `synaptic-mesh p2p start`");

    public void Dispose() => _http.Dispose();
}
