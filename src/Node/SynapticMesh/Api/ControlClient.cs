using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text.Json;
using SynapticMesh.Cli;
using SynapticMesh.Home;

namespace SynapticMesh.Api;

/// <summary>
/// The CLI side of the control API: a thin HttpClient that turns failures into one-line <see cref="CliException"/>s
/// carrying the node's error code, and reads streamed answers (newline-delimited JSON) for listen and subscribe.
/// </summary>
public sealed class ControlClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly string _startHint;
    private readonly ApiEndpointFile _endpoint;
    private readonly TimeSpan _connectTimeout;
    private bool _verified;

    /// <summary>How long the CLI waits for the node's control API (on this machine) to accept a connection.</summary>
    internal static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);

    /// <param name="handler">The connection handler (tests give one whose connects stall); by default a loopback
    /// one with <see cref="ConnectTimeout"/>.</param>
    internal ControlClient(ApiEndpointFile endpoint, string startHint, SocketsHttpHandler? handler = null)
    {
        _startHint = startHint;
        _endpoint = endpoint;
        handler ??= new SocketsHttpHandler { UseProxy = false, ConnectTimeout = ConnectTimeout };
        _connectTimeout = handler.ConnectTimeout;
        _http = new HttpClient(handler)
        {
            BaseAddress = endpoint.BaseAddress,
            // Ping, perf and DHT queries can be long; Ctrl+C cancels instead.
            Timeout = Timeout.InfiniteTimeSpan,
        };
    }

    /// <summary>Connects to the node running on the context's home, or fails with "no node is running".</summary>
    public static ControlClient Open(CommandContext context)
    {
        string hint = $"start it with `synaptic-mesh p2p start{context.HomeOption}`";
        var endpoint = ApiEndpointFile.TryLoad(context.NodeHome)
            ?? throw new CliException($"no node is running on {context.NodeHome.Directory}; {hint}", code: ErrorCodes.NotRunning);
        return new ControlClient(endpoint, hint);
    }

    /// <summary>Like <see cref="Open(CommandContext)"/>, for callers without a parse context (the hint names no --home).</summary>
    public static ControlClient Open(NodeHome home)
    {
        const string hint = "start it with `synaptic-mesh p2p start`";
        var endpoint = ApiEndpointFile.TryLoad(home)
            ?? throw new CliException($"no node is running on {home.Directory}; {hint}", code: ErrorCodes.NotRunning);
        return new ControlClient(endpoint, hint);
    }

    public Task<T> GetAsync<T>(string path, CancellationToken cancellationToken) =>
        SendAsync<T>(new HttpRequestMessage(HttpMethod.Get, path), cancellationToken);

    public Task<T> PostAsync<TRequest, T>(string path, TRequest body, CancellationToken cancellationToken) =>
        SendAsync<T>(new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body, options: CliOutput.JsonOptions) },
            cancellationToken);

    /// <summary>
    /// Opens a streamed answer and yields one object per line until the node ends it. <paramref name="opened"/> runs
    /// once the node has accepted the request (e.g. to print "listening...").
    /// </summary>
    public async IAsyncEnumerable<T> StreamAsync<T>(string path, Action opened, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        await AuthorizeAsync(request, cancellationToken);
        using var response = await CallAsync(() => _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken),
            cancellationToken);
        await ThrowIfFailedAsync(response, cancellationToken);
        opened();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellationToken));
        while (true)
        {
            string? line;
            try
            {
                line = await reader.ReadLineAsync(cancellationToken);
            }
            catch (Exception e) when (e is HttpRequestException or IOException)
            {
                throw new CliException($"the stream from the node broke: {ErrorText.Of(e)}", inner: e, code: ErrorCodes.NotRunning);
            }
            if (line is null) throw new CliException("the node ended the stream (it is stopping)", code: ErrorCodes.NotRunning);
            if (line.Length == 0) continue;
            T? item;
            try
            {
                item = JsonSerializer.Deserialize<T>(line, CliOutput.JsonOptions);
            }
            catch (JsonException e)
            {
                throw new CliException($"the node sent an unreadable line: {e.Message}", inner: e);
            }
            if (item is not null) yield return item;
        }
    }

    private async Task<T> SendAsync<T>(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using (request)
        {
            await AuthorizeAsync(request, cancellationToken);
            using var response = await CallAsync(() => _http.SendAsync(request, cancellationToken), cancellationToken);
            await ThrowIfFailedAsync(response, cancellationToken);
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

    /// <summary>The token goes only to the node that wrote api.json, checked once per client (<see cref="VerifyEndpointAsync"/>).</summary>
    private async Task AuthorizeAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (!_verified)
        {
            await CallAsync(async () =>
            {
                await VerifyEndpointAsync(_http, _endpoint, _startHint, cancellationToken);
                return true;
            }, cancellationToken);
            _verified = true;
        }
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _endpoint.Token);
    }

    /// <summary>
    /// Checks with <see cref="EndpointProof"/> that the process on the endpoint's port is the node that wrote api.json
    /// (its peer id and pid, and it holds the token), before the token is sent there.
    /// </summary>
    /// <exception cref="CliException">Nothing answers, or whatever answers is not that node.</exception>
    public static async Task VerifyEndpointAsync(HttpClient http, ApiEndpointFile endpoint, string startHint, CancellationToken cancellationToken)
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
            throw new CliException($"the node is not running (no answer on its control API); {startHint}", inner: e, code: ErrorCodes.NotRunning);
        }
        catch (Exception e) when (e is HttpRequestException or JsonException or NotSupportedException)
        {
            answer = null;
        }
        if (!EndpointProof.Verify(endpoint, challenge, answer))
            throw new CliException($"the process on 127.0.0.1:{endpoint.Port} is not the node that wrote api.json (peer id {endpoint.PeerId}, pid {endpoint.Pid}); "
                + $"the token was not sent. The file is stale: {startHint}", code: ErrorCodes.NotRunning);
    }

    private async Task<T> CallAsync<T>(Func<Task<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await call();
        }
        catch (HttpRequestException e) when (e.InnerException is SocketException || e.HttpRequestError == HttpRequestError.ConnectionError)
        {
            throw new CliException($"the node is not running (no answer on its control API); {_startHint}", inner: e, code: ErrorCodes.NotRunning);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            // Nobody interrupted: the handler's connect timeout ran out (the answers themselves have no time limit).
            throw new CliException(
                $"the node's control API on 127.0.0.1:{_endpoint.Port} accepted no connection within the CLI's connect timeout "
                + $"({_connectTimeout.TotalSeconds:0.###} s): the node may be overloaded or stuck", inner: e, code: ErrorCodes.Timeout);
        }
    }

    private static async Task ThrowIfFailedAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode) return;
        ApiError? error = null;
        try
        {
            error = await response.Content.ReadFromJsonAsync<ApiError>(CliOutput.JsonOptions, cancellationToken);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException)
        {
            // Fall back to the status line.
        }
        string message = error?.Error is { Length: > 0 } text
            ? ErrorText.OneLine(text)
            : $"the node refused the request ({(int)response.StatusCode} {response.ReasonPhrase})";
        throw new CliException(message, code: error?.Code ?? ApiErrors.CodeFor((int)response.StatusCode));
    }

    public void Dispose() => _http.Dispose();
}
