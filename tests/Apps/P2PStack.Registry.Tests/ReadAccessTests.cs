using System.Net;
using System.Net.Http.Headers;

namespace P2PStack.Registry.Tests;

public sealed class ReadAccessTests
{
    private const string Token = "read-token-0123456789abcdef";

    private static readonly string[] ReadPaths = ["/nodes", "/topology", "/graph", "/prometheus/targets", "/events"];

    [Fact]
    public async Task Loopback_reads_are_open_by_default()
    {
        await using var registry = await TestRegistry.StartAsync();
        foreach (var path in ReadPaths)
        {
            using var response = await registry.Http.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    [Fact]
    public async Task Authenticated_reads_need_a_token_or_a_signature_by_a_sovereign_or_an_approved_node()
    {
        await using var registry = await TestRegistry.StartAsync(o =>
        {
            o.ReadAccess = ReadAccess.Authenticated;
            o.ReadTokens.Add(Token);
        });
        foreach (var path in ReadPaths)
        {
            using var response = await registry.Http.GetAsync(path);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
        }
        // Health says it is up, without numbers.
        Assert.DoesNotContain("active", await registry.Http.GetStringAsync("/"));

        using (var request = new HttpRequestMessage(HttpMethod.Get, "/nodes"))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
            using var response = await registry.Http.SendAsync(request);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        using (var request = new HttpRequestMessage(HttpMethod.Get, "/nodes"))
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token + "x");
            using var response = await registry.Http.SendAsync(request);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        using var sovereign = registry.Client(registry.Sovereign);
        Assert.Equal(0, (await sovereign.GetNodesAsync(null, default)).Count);

        using var key = Keys.New();
        using var node = registry.Client(key);
        await node.RegisterAsync(new RegisterRequest(), default);
        var pending = await Assert.ThrowsAsync<RegistryRequestException>(() => node.GetNodesAsync(null, default));
        Assert.Equal(403, pending.Status);
        await sovereign.ApproveAsync(key.Id(), null, default);
        Assert.Equal(1, (await node.GetNodesAsync(NodeStatus.Active, default)).Count);

        using var stranger = registry.Client(Keys.New());
        Assert.Equal(403, (await Assert.ThrowsAsync<RegistryRequestException>(() => stranger.GetTopologyAsync(default))).Status);
    }

    [Fact]
    public async Task Cors_is_off_by_default()
    {
        await using var registry = await TestRegistry.StartAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/nodes");
        request.Headers.Add("Origin", "https://evil.example");
        using var response = await registry.Http.SendAsync(request);
        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));

        using var preflight = new HttpRequestMessage(HttpMethod.Options, "/register");
        preflight.Headers.Add("Origin", "https://evil.example");
        preflight.Headers.Add("Access-Control-Request-Method", "POST");
        using var answer = await registry.Http.SendAsync(preflight);
        Assert.False(answer.Headers.Contains("Access-Control-Allow-Origin"));
        Assert.NotEqual(HttpStatusCode.OK, answer.StatusCode);
    }

    [Fact]
    public async Task Cors_allows_reads_from_configured_origins_only()
    {
        await using var registry = await TestRegistry.StartAsync(o => o.CorsOrigins.Add("https://grafana.example"));
        using var allowed = new HttpRequestMessage(HttpMethod.Get, "/graph");
        allowed.Headers.Add("Origin", "https://grafana.example");
        using var response = await registry.Http.SendAsync(allowed);
        Assert.Equal("https://grafana.example", response.Headers.GetValues("Access-Control-Allow-Origin").Single());

        using var other = new HttpRequestMessage(HttpMethod.Get, "/graph");
        other.Headers.Add("Origin", "https://evil.example");
        using var refused = await registry.Http.SendAsync(other);
        Assert.False(refused.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task The_topology_page_is_served_with_a_strict_content_security_policy()
    {
        await using var registry = await TestRegistry.StartAsync(o => o.ReadAccess = ReadAccess.Authenticated);
        using var page = await registry.Http.GetAsync("/ui/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType!.MediaType);
        string csp = page.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Contains("default-src 'none'", csp);
        Assert.Contains("frame-ancestors 'none'", csp);
        Assert.Contains("topology.js", await page.Content.ReadAsStringAsync());
        using var script = await registry.Http.GetAsync("/ui/topology.js");
        Assert.Equal("text/javascript", script.Content.Headers.ContentType!.MediaType);
        using var missing = await registry.Http.GetAsync("/ui/secret.txt");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        using var redirect = await registry.Http.GetAsync("/ui");
        Assert.Equal(HttpStatusCode.OK, redirect.StatusCode);
    }
}
