using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using P2PStack.Identity;

namespace P2PStack.Registry;

/// <summary>Settings of a <see cref="RegistryClient"/>.</summary>
public sealed class RegistryClientOptions
{
    /// <summary>The registry's base URL, e.g. http://registry.example:8190/.</summary>
    public Uri? BaseAddress { get; set; }

    /// <summary>Budget of one request (connect, send, answer).</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Bearer token for read endpoints, when the registry wants one (reads are signed otherwise).</summary>
    public string? BearerToken { get; set; }

    /// <summary>Largest answer read.</summary>
    public long MaxResponseBytes { get; set; } = 16 * 1024 * 1024;

    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;
}

/// <summary>The registry refused a request; <see cref="Status"/> is the HTTP status, the message its error text.</summary>
public sealed class RegistryRequestException(int status, string message) : Exception(message)
{
    public int Status { get; } = status;
}

/// <summary>
/// Talks to a registry: every request is signed with <see cref="Key"/> (docs/specs/registry.md); reads carry the
/// bearer token too when one is set. Thread-safe.
/// </summary>
public sealed class RegistryClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly RegistryClientOptions _options;

    /// <param name="key">Signs every request; the caller keeps ownership.</param>
    /// <param name="http">A shared client (e.g. many simulated nodes); its BaseAddress is not used.</param>
    public RegistryClient(PrivateKey key, RegistryClientOptions options, HttpClient? http = null)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(options);
        if (options.BaseAddress is not { IsAbsoluteUri: true } baseAddress || baseAddress.Scheme is not ("http" or "https"))
            throw new ArgumentException("the registry URL must be an absolute http or https URL", nameof(options));
        Key = key;
        _options = options;
        BaseAddress = new Uri(baseAddress.ToString().TrimEnd('/') + "/");
        _ownsHttp = http is null;
        _http = http ?? new HttpClient(new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectTimeout = options.RequestTimeout,
            PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        })
        {
            Timeout = options.RequestTimeout,
            MaxResponseContentBufferSize = options.MaxResponseBytes,
        };
    }

    public PrivateKey Key { get; }

    public Uri BaseAddress { get; }

    public Task<NodeStatusResponse> RegisterAsync(RegisterRequest request, CancellationToken cancellationToken) =>
        SendAsync<NodeStatusResponse>(HttpMethod.Post, "register", Serialize(request), cancellationToken);

    public Task<NodeStatusResponse> HeartbeatAsync(HeartbeatRequest request, CancellationToken cancellationToken) =>
        SendAsync<NodeStatusResponse>(HttpMethod.Post, "heartbeat", Serialize(request), cancellationToken);

    public Task<NodeStatusResponse> ApproveAsync(string nodeId, string? reason, CancellationToken cancellationToken) =>
        SendAsync<NodeStatusResponse>(HttpMethod.Post, $"approve/{Uri.EscapeDataString(nodeId)}", Serialize(new DecisionRequest(reason)), cancellationToken);

    public Task<NodeStatusResponse> DenyAsync(string nodeId, string? reason, CancellationToken cancellationToken) =>
        SendAsync<NodeStatusResponse>(HttpMethod.Post, $"deny/{Uri.EscapeDataString(nodeId)}", Serialize(new DecisionRequest(reason)), cancellationToken);

    public Task<SovereignView> AddSovereignAsync(string key, string? label, CancellationToken cancellationToken) =>
        SendAsync<SovereignView>(HttpMethod.Post, "sovereign/add", Serialize(new SovereignAddRequest(key, label)), cancellationToken);

    public Task<NodeList> GetNodesAsync(string? status, CancellationToken cancellationToken) =>
        SendAsync<NodeList>(HttpMethod.Get, status is null ? "nodes" : $"nodes?status={Uri.EscapeDataString(status)}", null, cancellationToken);

    public Task<NodeView> GetNodeAsync(string nodeId, CancellationToken cancellationToken) =>
        SendAsync<NodeView>(HttpMethod.Get, $"nodes/{Uri.EscapeDataString(nodeId)}", null, cancellationToken);

    public Task<Topology> GetTopologyAsync(CancellationToken cancellationToken) =>
        SendAsync<Topology>(HttpMethod.Get, "topology", null, cancellationToken);

    /// <summary>Builds a signed request (also used by tests that tamper with it before sending).</summary>
    public HttpRequestMessage CreateSignedRequest(HttpMethod method, string relativePath, byte[]? body)
    {
        var uri = new Uri(BaseAddress, relativePath);
        var request = new HttpRequestMessage(method, uri);
        byte[] content = body ?? [];
        var signed = RequestSigning.Sign(Key, method.Method, uri.Authority, uri.PathAndQuery, content, _options.TimeProvider.GetUtcNow());
        request.Headers.Add(RequestSigning.PublicKeyHeader, signed.PublicKey);
        request.Headers.Add(RequestSigning.TimestampHeader, signed.Timestamp);
        request.Headers.Add(RequestSigning.NonceHeader, signed.Nonce);
        request.Headers.Add(RequestSigning.SignatureHeader, signed.Signature);
        if (_options.BearerToken is { Length: > 0 } token) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }
        return request;
    }

    /// <summary>
    /// Reading answers: an explicit null where the record has no null (a null list or id) is an unreadable answer, not
    /// a record with a null inside for the caller to trip over. (A member left out is still its default: the registry
    /// leaves out nulls, so missing members cannot be refused; readers check those.)
    /// </summary>
    private static readonly JsonSerializerOptions AnswerOptions = new(RegistryJson.Options) { RespectNullableAnnotations = true };

    private static byte[] Serialize<T>(T value) => JsonSerializer.SerializeToUtf8Bytes(value, RegistryJson.Options);

    private async Task<T> SendAsync<T>(HttpMethod method, string path, byte[]? body, CancellationToken cancellationToken)
    {
        using var request = CreateSignedRequest(method, path, body);
        using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            string message = await ReadErrorAsync(response, cancellationToken).ConfigureAwait(false);
            throw new RegistryRequestException((int)response.StatusCode, message);
        }
        try
        {
            return await response.Content.ReadFromJsonAsync<T>(AnswerOptions, cancellationToken).ConfigureAwait(false)
                ?? throw new RegistryRequestException((int)response.StatusCode, "the registry sent an empty answer");
        }
        catch (JsonException e)
        {
            throw new RegistryRequestException((int)response.StatusCode, $"the registry sent an unreadable answer: {e.Message}");
        }
    }

    private static async Task<string> ReadErrorAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            var error = await response.Content.ReadFromJsonAsync<RegistryError>(RegistryJson.Options, cancellationToken).ConfigureAwait(false);
            if (error?.Error is { Length: > 0 } text) return text.ReplaceLineEndings(" ");
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException)
        {
        }
        return $"the registry answered {(int)response.StatusCode} {response.ReasonPhrase}";
    }

    public void Dispose()
    {
        if (_ownsHttp) _http.Dispose();
    }
}
