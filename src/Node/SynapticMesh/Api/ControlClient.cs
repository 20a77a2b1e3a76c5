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
    private readonly ApiEndpointFile _endpoint;
    private bool _verified;

    private ControlClient(ApiEndpointFile endpoint)
    {
        _endpoint = endpoint;
        _http = new HttpClient(new SocketsHttpHandler { UseProxy = false, ConnectTimeout = TimeSpan.FromSeconds(5) })
        {
            BaseAddress = endpoint.BaseAddress,
            // Ping and perf runs can be long; Ctrl+C cancels instead.
            Timeout = Timeout.InfiniteTimeSpan,
        };
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
            if (!_verified)
            {
                await VerifyEndpointAsync(_http, _endpoint, cancellationToken);
                _verified = true;
            }
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _endpoint.Token);
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

    /// <summary>
    /// Checks with <see cref="EndpointProof"/> that the process on the endpoint's port is the node that wrote api.json
    /// (its peer id and pid, and it holds the token), before the token is sent there.
    /// </summary>
    /// <exception cref="CliException">Nothing answers, or whatever answers is not that node.</exception>
    public static async Task VerifyEndpointAsync(HttpClient http, ApiEndpointFile endpoint, CancellationToken cancellationToken)
    {
        string challenge = EndpointProof.NewChallenge();
        EndpointProof.Answer? answer = null;
        try
        {
            using var response = await http.GetAsync(new Uri(endpoint.BaseAddress, $"{EndpointProof.Path}?challenge={Uri.EscapeDataString(challenge)}"),
                cancellationToken);
            if (response.IsSuccessStatusCode)
                answer = await response.Content.ReadFromJsonAsync<EndpointProof.Answer>(CliOutput.JsonOptions, cancellationToken);
        }
        catch (HttpRequestException e) when (e.InnerException is SocketException || e.HttpRequestError == HttpRequestError.ConnectionError)
        {
            throw new CliException("the node is not running (no answer on its control API); start it with `synaptic-mesh p2p start`", inner: e);
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or NotSupportedException)
        {
            answer = null;
        }
        if (!EndpointProof.Verify(endpoint, challenge, answer))
            throw new CliException($"the process on 127.0.0.1:{endpoint.Port} is not the node that wrote api.json (peer id {endpoint.PeerId}, pid {endpoint.Pid}); "
                + "the token was not sent. The file is stale: start the node again with `synaptic-mesh p2p start`");
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
