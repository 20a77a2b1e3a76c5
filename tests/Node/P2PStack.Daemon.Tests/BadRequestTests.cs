using Google.Protobuf;
using P2PStack.Daemon.Pb;
using P2PStack.Encoding;

namespace P2PStack.Daemon.Tests;

/// <summary>A bad request gets an ERROR response; the daemon (and, where the framing allows, the connection) goes on.</summary>
public sealed class BadRequestTests : IAsyncLifetime
{
    private TestDaemon _daemon = null!;

    public async Task InitializeAsync() => _daemon = await TestDaemon.StartAsync(o => { }, o => o.MaxRequestSize = 64 * 1024);

    public async Task DisposeAsync() => await _daemon.DisposeAsync();

    private async Task AssertStillServesAsync()
    {
        var identify = await _daemon.RequestAsync(Requests.Identify());
        Assert.Equal(Response.Types.Type.Ok, identify.Type);
        Assert.Equal(_daemon.Host.PeerId.Bytes.ToArray(), identify.Identify.Id.ToByteArray());
    }

    private static void AssertError(Response response, string fragment)
    {
        Assert.Equal(Response.Types.Type.Error, response.Type);
        Assert.Contains(fragment, response.Error.Msg, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task UnknownTypeIsAnErrorAndTheConnectionServesTheNextRequest()
    {
        await using var client = await _daemon.ConnectAsync();
        await client.SendAsync(new Request { Type = (Request.Types.Type)42 });
        AssertError(await client.ReadAsync(Response.Parser), "unknown request type 42");
        await client.SendAsync(Requests.Identify());
        Assert.Equal(Response.Types.Type.Ok, (await client.ReadAsync(Response.Parser)).Type);
        await AssertStillServesAsync();
    }

    [Theory]
    [InlineData("type")]
    [InlineData("connect")]
    [InlineData("dht")]
    [InlineData("pubsub")]
    [InlineData("peerStore")]
    [InlineData("connManager")]
    public async Task MissingFieldsAreErrors(string missing)
    {
        var request = missing switch
        {
            "type" => new Request(),
            "connect" => new Request { Type = Request.Types.Type.Connect },
            "dht" => new Request { Type = Request.Types.Type.Dht },
            "pubsub" => new Request { Type = Request.Types.Type.Pubsub },
            "peerStore" => new Request { Type = Request.Types.Type.Peerstore },
            _ => new Request { Type = Request.Types.Type.Connmanager },
        };
        AssertError(await _daemon.RequestAsync(request), $"{missing} is missing");
        await AssertStillServesAsync();
    }

    [Fact]
    public async Task MalformedProtobufIsAnErrorAndTheConnectionServesTheNextRequest()
    {
        await using var client = await _daemon.ConnectAsync();
        // A whole frame whose body is not a Request: field 2 (connect) announces 100 bytes but has 3.
        await client.SendRawAsync(new byte[] { 5, 0x08, 0x01, 0x12, 100, 0xFF });
        AssertError(await client.ReadAsync(Response.Parser), "malformed request");
        await client.SendAsync(Requests.Identify());
        Assert.Equal(Response.Types.Type.Ok, (await client.ReadAsync(Response.Parser)).Type);
    }

    [Fact]
    public async Task OversizedRequestIsAnErrorAndEndsOnlyItsConnection()
    {
        await using var client = await _daemon.ConnectAsync();
        await client.SendRawAsync(Varint.Encode(64 * 1024 + 1)); // the body never needs to come
        AssertError(await client.ReadAsync(Response.Parser), "too large");
        Assert.Empty(await client.ReadToEndAsync()); // the daemon closed this connection
        await AssertStillServesAsync();
    }

    [Fact]
    public async Task BrokenLengthPrefixIsAnError()
    {
        await using var client = await _daemon.ConnectAsync();
        await client.SendRawAsync(new byte[] { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 });
        AssertError(await client.ReadAsync(Response.Parser), "malformed request length");
        await AssertStillServesAsync();
    }

    [Fact]
    public async Task InvalidFieldValuesAreErrors()
    {
        AssertError(await _daemon.RequestAsync(new Request
        {
            Type = Request.Types.Type.Connect,
            Connect = new ConnectRequest { Peer = ByteString.CopyFrom(1, 2, 3) },
        }), "invalid peer");
        AssertError(await _daemon.RequestAsync(new Request
        {
            Type = Request.Types.Type.StreamOpen,
            StreamOpen = new StreamOpenRequest { Peer = ByteString.CopyFrom(_daemon.Host.PeerId.Bytes.Span), Proto = { "no-slash" } },
        }), "not a protocol id");
        AssertError(await _daemon.RequestAsync(new Request
        {
            Type = Request.Types.Type.StreamHandler,
            StreamHandler = new StreamHandlerRequest { Addr = ByteString.CopyFrom(P2PStack.Addressing.Multiaddr.Parse("/dns4/example.com/tcp/1").Bytes.Span), Proto = { "/x/1" } },
        }), "not a control socket address");
        AssertError(await _daemon.RequestAsync(Requests.Dht(new DHTRequest { Type = DHTRequest.Types.Type.FindPeer })), "dht is not enabled");
        AssertError(await _daemon.RequestAsync(Requests.PubSub(new PSRequest { Type = PSRequest.Types.Type.GetTopics })), "pubsub is not enabled");
        await AssertStillServesAsync();
    }

    [Fact]
    public async Task ConnectionsBeyondTheLimitAreRefusedWithAnError()
    {
        await using var limited = await TestDaemon.StartAsync(null, o => o.MaxControlConnections = 2);
        await using var first = await limited.ConnectAsync();
        await using var second = await limited.ConnectAsync();
        await using var third = await limited.ConnectAsync();
        AssertError(await third.ReadAsync(Response.Parser), "too many control connections");
        await first.SendAsync(Requests.Identify());
        Assert.Equal(Response.Types.Type.Ok, (await first.ReadAsync(Response.Parser)).Type);
    }

    [Fact]
    public async Task AnIdleConnectionIsClosedAfterTheReadTimeout()
    {
        await using var impatient = await TestDaemon.StartAsync(null, o => o.RequestReadTimeout = TimeSpan.FromMilliseconds(200));
        await using var client = await impatient.ConnectAsync();
        Assert.Empty(await client.ReadToEndAsync());
    }
}
