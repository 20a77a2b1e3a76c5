using System.Net;
using System.Text.Json;
using P2PStack.Identity;

namespace P2PStack.Registry.Tests;

/// <summary>Every refusal of the signed endpoints: forged, foreign, replayed, stale, unauthorised, oversized, malformed.</summary>
public sealed class SecurityTests
{
    private static readonly byte[] RegisterBody = TestRegistry.Json("""{"name":"n","addresses":["/ip4/127.0.0.1/tcp/4001"]}""");

    private static async Task<(HttpStatusCode Status, string Error)> SendAsync(TestRegistry registry, HttpRequestMessage request)
    {
        using (request)
        using (var response = await registry.Http.SendAsync(request))
        {
            string body = await response.Content.ReadAsStringAsync();
            string error = "";
            if (body.StartsWith('{'))
            {
                using var json = JsonDocument.Parse(body);
                if (json.RootElement.TryGetProperty("error", out var e)) error = e.GetString() ?? "";
            }
            return (response.StatusCode, error);
        }
    }

    [Fact]
    public async Task Unsigned_writes_are_refused()
    {
        await using var registry = await TestRegistry.StartAsync();
        foreach (var path in new[] { "/register", "/heartbeat", "/approve/" + Keys.New().Id(), "/deny/" + Keys.New().Id(), "/sovereign/add" })
        {
            var (status, error) = await SendAsync(registry, new HttpRequestMessage(HttpMethod.Post, path) { Content = new ByteArrayContent(RegisterBody) });
            Assert.Equal(HttpStatusCode.Unauthorized, status);
            Assert.Contains("must be signed", error);
        }
    }

    [Fact]
    public async Task A_forged_signature_is_refused()
    {
        await using var registry = await TestRegistry.StartAsync();
        using var client = registry.Client(Keys.New());
        var request = client.CreateSignedRequest(HttpMethod.Post, "register", RegisterBody);
        string signature = request.Headers.GetValues(RequestSigning.SignatureHeader).Single();
        byte[] bytes = System.Buffers.Text.Base64Url.DecodeFromChars(signature);
        bytes[5] ^= 0x01;
        request.Headers.Remove(RequestSigning.SignatureHeader);
        request.Headers.Add(RequestSigning.SignatureHeader, System.Buffers.Text.Base64Url.EncodeToString(bytes));
        var (status, error) = await SendAsync(registry, request);
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Contains("does not verify", error);
    }

    [Fact]
    public async Task A_tampered_body_target_or_method_breaks_the_signature()
    {
        await using var registry = await TestRegistry.StartAsync();
        using var key = Keys.New();
        using var client = registry.Client(key);

        var body = client.CreateSignedRequest(HttpMethod.Post, "register", RegisterBody);
        body.Content = new ByteArrayContent(TestRegistry.Json("""{"name":"evil","addresses":[]}"""));
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(registry, body)).Status);

        // A sovereign's signed approval of one node cannot be pointed at another.
        using var sovereign = registry.Client(registry.Sovereign);
        var approve = sovereign.CreateSignedRequest(HttpMethod.Post, "approve/" + key.Id(), null);
        approve.RequestUri = new Uri(registry.Server.BaseAddress, "deny/" + key.Id());
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(registry, approve)).Status);
    }

    [Fact]
    public async Task A_signature_by_another_key_is_refused()
    {
        await using var registry = await TestRegistry.StartAsync();
        using var victim = Keys.New();
        using var attacker = Keys.New();

        // The attacker signs, but presents the victim's public key.
        using var attackerClient = registry.Client(attacker);
        var request = attackerClient.CreateSignedRequest(HttpMethod.Post, "register", RegisterBody);
        request.Headers.Remove(RequestSigning.PublicKeyHeader);
        request.Headers.Add(RequestSigning.PublicKeyHeader, System.Buffers.Text.Base64Url.EncodeToString(victim.PublicKey.ToProtobuf()));
        var (status, error) = await SendAsync(registry, request);
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Contains("does not verify", error);

        // The attacker signs as itself, but names the victim as the node to register.
        var named = await Assert.ThrowsAsync<RegistryRequestException>(() =>
            attackerClient.RegisterAsync(new RegisterRequest { NodeId = victim.Id() }, default));
        Assert.Equal(403, named.Status);
        Assert.Contains("registers only itself", named.Message);
    }

    [Fact]
    public async Task A_replayed_request_is_refused()
    {
        await using var registry = await TestRegistry.StartAsync();
        using var client = registry.Client(Keys.New());
        var first = client.CreateSignedRequest(HttpMethod.Post, "register", RegisterBody);
        var copy = new HttpRequestMessage(HttpMethod.Post, first.RequestUri) { Content = new ByteArrayContent(RegisterBody) };
        foreach (var header in first.Headers) copy.Headers.TryAddWithoutValidation(header.Key, header.Value);
        Assert.Equal(HttpStatusCode.Created, (await SendAsync(registry, first)).Status);
        var (status, error) = await SendAsync(registry, copy);
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Contains("replayed", error);
    }

    [Fact]
    public async Task A_replay_is_refused_after_a_restart_too()
    {
        var sovereign = Keys.New();
        var registry = await TestRegistry.StartAsync(sovereign: sovereign);
        using var client = registry.Client(Keys.New());
        var first = client.CreateSignedRequest(HttpMethod.Post, "register", RegisterBody);
        var headers = first.Headers.ToList();
        Assert.Equal(HttpStatusCode.Created, (await SendAsync(registry, first)).Status);
        var directory = await registry.StopKeepingDataAsync();

        await using var restarted = await TestRegistry.StartAsync(directory: directory, sovereign: sovereign);
        // Same port is not guaranteed, so the replay is re-aimed; the Host it was signed for must match, so aim it
        // with the original Host header.
        var replay = new HttpRequestMessage(HttpMethod.Post, new Uri(restarted.Server.BaseAddress, "register")) { Content = new ByteArrayContent(RegisterBody) };
        foreach (var header in headers) replay.Headers.TryAddWithoutValidation(header.Key, header.Value);
        replay.Headers.Host = first.RequestUri!.Authority;
        var (status, error) = await SendAsync(restarted, replay);
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Contains("replayed", error);
    }

    [Fact]
    public async Task A_request_for_another_registry_host_is_refused()
    {
        await using var registry = await TestRegistry.StartAsync();
        using var client = registry.Client(Keys.New());
        var request = client.CreateSignedRequest(HttpMethod.Post, "register", RegisterBody);
        request.Headers.Host = "other-registry.example:8190";
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(registry, request)).Status);
    }

    [Theory]
    [InlineData(-10)]
    [InlineData(+10)]
    public async Task A_stale_or_future_timestamp_is_refused(int minutes)
    {
        await using var registry = await TestRegistry.StartAsync();
        var skewed = new ManualClock(registry.Clock.GetUtcNow().AddMinutes(minutes));
        using var key = Keys.New();
        using var client = new RegistryClient(key, new RegistryClientOptions { BaseAddress = registry.Server.BaseAddress, TimeProvider = skewed });
        var error = await Assert.ThrowsAsync<RegistryRequestException>(() => client.RegisterAsync(new RegisterRequest(), default));
        Assert.Equal(401, error.Status);
        Assert.Contains("timestamp", error.Message);
    }

    [Fact]
    public async Task Malformed_signature_headers_are_refused()
    {
        await using var registry = await TestRegistry.StartAsync();
        using var client = registry.Client(Keys.New());
        foreach (var (header, value) in new[]
        {
            (RequestSigning.PublicKeyHeader, "!!!"),
            (RequestSigning.PublicKeyHeader, "AAAA"),
            (RequestSigning.TimestampHeader, "yesterday"),
            (RequestSigning.TimestampHeader, "-5"),
            (RequestSigning.NonceHeader, "short"),
            (RequestSigning.NonceHeader, new string('A', 200)),
            (RequestSigning.SignatureHeader, "not base64url!"),
        })
        {
            var request = client.CreateSignedRequest(HttpMethod.Post, "register", RegisterBody);
            request.Headers.Remove(header);
            request.Headers.TryAddWithoutValidation(header, value);
            var (status, _) = await SendAsync(registry, request);
            Assert.True(status == HttpStatusCode.Unauthorized, $"{header}: {value} gave {status}");
        }
    }

    [Fact]
    public async Task Approval_by_a_non_sovereign_is_refused()
    {
        await using var registry = await TestRegistry.StartAsync();
        using var node = Keys.New();
        using var nodeClient = registry.Client(node);
        await nodeClient.RegisterAsync(new RegisterRequest(), default);
        using var other = Keys.New();
        using var otherClient = registry.Client(other);
        await otherClient.RegisterAsync(new RegisterRequest(), default);

        foreach (var attempt in new Func<Task>[]
        {
            () => otherClient.ApproveAsync(node.Id(), null, default),
            () => otherClient.DenyAsync(node.Id(), null, default),
            () => nodeClient.ApproveAsync(node.Id(), null, default), // not even itself
        })
        {
            var error = await Assert.ThrowsAsync<RegistryRequestException>(attempt);
            Assert.Equal(403, error.Status);
            Assert.Contains("not a sovereign", error.Message);
        }
        using var sovereign = registry.Client(registry.Sovereign);
        Assert.Equal(NodeStatus.Pending, (await sovereign.GetNodeAsync(node.Id(), default)).Status);
    }

    [Fact]
    public async Task Sovereign_add_needs_an_existing_sovereigns_signature()
    {
        await using var registry = await TestRegistry.StartAsync();
        using var candidate = Keys.New();

        var unsigned = await SendAsync(registry, new HttpRequestMessage(HttpMethod.Post, "/sovereign/add")
        {
            Content = new ByteArrayContent(TestRegistry.Json($$"""{"key":"{{candidate.Id()}}"}""")),
        });
        Assert.Equal(HttpStatusCode.Unauthorized, unsigned.Status);

        using var selfPromoting = registry.Client(candidate);
        var self = await Assert.ThrowsAsync<RegistryRequestException>(() => selfPromoting.AddSovereignAsync(candidate.Id(), null, default));
        Assert.Equal(403, self.Status);

        using var sovereign = registry.Client(registry.Sovereign);
        var added = await sovereign.AddSovereignAsync(System.Buffers.Text.Base64Url.EncodeToString(candidate.PublicKey.ToProtobuf()), "second", default);
        Assert.Equal(candidate.Id(), added.PeerId);
        Assert.Equal(registry.Sovereign.Id(), added.AddedBy);

        // The new sovereign can now decide and add others.
        using var node = Keys.New();
        using var nodeClient = registry.Client(node);
        await nodeClient.RegisterAsync(new RegisterRequest(), default);
        Assert.Equal(NodeStatus.Active, (await selfPromoting.ApproveAsync(node.Id(), null, default)).Status);

        var bad = await Assert.ThrowsAsync<RegistryRequestException>(() => sovereign.AddSovereignAsync("not a key", null, default));
        Assert.Equal(400, bad.Status);
    }

    [Fact]
    public async Task A_sovereign_with_a_hashed_peer_id_signs_with_the_key_it_stands_for()
    {
        using var rsa = PrivateKey.Generate(KeyType.Rsa);
        Assert.Null(PeerId.FromPublicKey(rsa.PublicKey).TryGetPublicKey()); // the id does not hold the key
        await using var registry = await TestRegistry.StartAsync(o => o.InitialSovereigns.Add(rsa.Id()));
        using var node = Keys.New();
        using var nodeClient = registry.Client(node);
        await nodeClient.RegisterAsync(new RegisterRequest(), default);
        using var rsaClient = registry.Client(rsa);
        Assert.Equal(NodeStatus.Active, (await rsaClient.ApproveAsync(node.Id(), null, default)).Status);
    }

    [Fact]
    public async Task An_oversized_body_is_refused_with_413()
    {
        await using var registry = await TestRegistry.StartAsync(o => o.MaxRequestBodyBytes = 4096);
        using var client = registry.Client(Keys.New());
        byte[] big = TestRegistry.Json($$"""{"name":"{{new string('x', 8000)}}"}""");
        var (status, error) = await SendAsync(registry, client.CreateSignedRequest(HttpMethod.Post, "register", big));
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Contains("4096", error);

        // Chunked, with no Content-Length to refuse up front.
        var chunked = client.CreateSignedRequest(HttpMethod.Post, "register", big);
        chunked.Content = new StreamContent(new MemoryStream(big));
        chunked.Headers.TransferEncodingChunked = true;
        try
        {
            Assert.Equal(HttpStatusCode.RequestEntityTooLarge, (await SendAsync(registry, chunked)).Status);
        }
        catch (HttpRequestException ex) when (ex.InnerException is IOException)
        {
            // The server answers 413 as soon as the limit is passed and closes the connection with the rest of the body
            // unread, so the kernel resets it; the reset may reach the client before it has read the answer (seen once
            // in CI). Refused either way: the request was cut off, not served.
        }
    }

    [Theory]
    [InlineData("{not json")]
    [InlineData("[1,2,3]")]
    [InlineData("""{"addresses":"not a list"}""")]
    [InlineData("""{"name":42}""")]
    [InlineData("")]
    public async Task Bad_json_is_refused_with_400(string body)
    {
        await using var registry = await TestRegistry.StartAsync();
        using var client = registry.Client(Keys.New());
        var (status, error) = await SendAsync(registry, client.CreateSignedRequest(HttpMethod.Post, "register", System.Text.Encoding.UTF8.GetBytes(body)));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.NotEmpty(error);
    }

    [Fact]
    public async Task Heartbeat_bad_input_is_refused_with_400()
    {
        await using var registry = await TestRegistry.StartAsync(o => o.MaxConnectionsPerHeartbeat = 2);
        using var key = Keys.New();
        using var client = registry.Client(key);
        await client.RegisterAsync(new RegisterRequest(), default);
        async Task<int> Status(HeartbeatRequest request) =>
            (await Assert.ThrowsAsync<RegistryRequestException>(() => client.HeartbeatAsync(request, default))).Status;
        string p1 = Keys.New().Id(), p2 = Keys.New().Id(), p3 = Keys.New().Id();
        Assert.Equal(400, await Status(new HeartbeatRequest { Connections = [new(p1), new(p2), new(p3)] }));
        Assert.Equal(400, await Status(new HeartbeatRequest { Connections = [new("nope")] }));
        Assert.Equal(400, await Status(new HeartbeatRequest { Connections = [new(key.Id())] }));
        Assert.Equal(400, await Status(new HeartbeatRequest { Connections = [new(p1), new(p1)] }));
        Assert.Equal(400, await Status(new HeartbeatRequest { Connections = [new(p1, new RttStats(-1, 0, 0, 0))] }));
    }

    [Fact]
    public async Task Requests_beyond_the_rate_limit_get_429()
    {
        await using var registry = await TestRegistry.StartAsync(o =>
        {
            o.RateLimitBurst = 5;
            o.RateLimitPerSecond = 1;
        });
        var statuses = new List<HttpStatusCode>();
        for (int i = 0; i < 50; i++)
        {
            using var response = await registry.Http.GetAsync("/nodes");
            statuses.Add(response.StatusCode);
        }
        Assert.Contains(HttpStatusCode.TooManyRequests, statuses);
        Assert.True(statuses.Count(s => s == HttpStatusCode.OK) >= 5);
    }

    [Fact]
    public void Rate_limit_partitions_ipv6_clients_by_their_64()
    {
        Assert.Equal(
            P2PStack.RegistryServiceCollectionExtensions.ClientPartition(IPAddress.Parse("2001:db8:1:2:aaaa::1")),
            P2PStack.RegistryServiceCollectionExtensions.ClientPartition(IPAddress.Parse("2001:db8:1:2:bbbb::2")));
        Assert.NotEqual(
            P2PStack.RegistryServiceCollectionExtensions.ClientPartition(IPAddress.Parse("2001:db8:1:2::1")),
            P2PStack.RegistryServiceCollectionExtensions.ClientPartition(IPAddress.Parse("2001:db8:1:3::1")));
        Assert.Equal("127.0.0.1", P2PStack.RegistryServiceCollectionExtensions.ClientPartition(IPAddress.Parse("::ffff:127.0.0.1")));
    }
}
