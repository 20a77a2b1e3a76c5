using System.Net;
using System.Net.Http.Headers;
using P2PStack.Identity;

namespace P2PStack.Registry.Tests;

/// <summary>
/// Answers a registry (or something posing as one) may send the client: found by the <c>registry-answer</c> fuzz
/// target (fuzz/README.md). Nulls where the records have none are refused as unreadable answers; discovery skips what
/// it cannot use instead of throwing a NullReferenceException.
/// </summary>
public sealed class ClientAnswerTests
{
    private static readonly PrivateKey Key = Ed25519PrivateKey.FromSeed(Enumerable.Range(1, 32).Select(i => (byte)i).ToArray());

    [Theory]
    [InlineData("""{"nodes":null,"count":0}""")]
    [InlineData("""{"nodes":[{"id":null,"status":"active"}],"count":1}""")]
    [InlineData("""{"nodes":[{"id":"x","status":"active","addresses":null}],"count":1}""")]
    public async Task A_null_where_the_answer_has_none_is_an_unreadable_answer(string body)
    {
        using var client = Client(body);
        var e = await Assert.ThrowsAsync<RegistryRequestException>(() => client.GetNodesAsync(NodeStatus.Active, CancellationToken.None));
        Assert.Contains("unreadable answer", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"count":0}""")]
    [InlineData("""{"nodes":[null],"count":1}""")]
    [InlineData("""{"nodes":[{"id":"12D3KooWBe1wL1HJgRuaZuy8AtRM9G3VQqhUGZkt1Va3qfCqiSxo","status":"active"}],"count":1}""")]
    [InlineData("""{"nodes":[{"id":"12D3KooWBe1wL1HJgRuaZuy8AtRM9G3VQqhUGZkt1Va3qfCqiSxo","status":"active","addresses":[null]}],"count":1}""")]
    public async Task Discovery_skips_missing_and_null_entries(string body)
    {
        using var client = Client(body);
        Assert.Empty(await RegistryDiscovery.FindActiveAsync(client, null, CancellationToken.None));
    }

    private static RegistryClient Client(string body) =>
        new(Key, new RegistryClientOptions { BaseAddress = new Uri("http://registry.test/") }, new HttpClient(new Answer(body)));

    private sealed class Answer(string body) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var content = new StringContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK) { Content = content, RequestMessage = request });
        }
    }
}
