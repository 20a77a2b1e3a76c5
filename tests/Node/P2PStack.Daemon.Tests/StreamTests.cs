using System.Net;
using System.Net.Sockets;

using Google.Protobuf;
using P2PStack.Addressing;
using P2PStack.Daemon.Pb;

namespace P2PStack.Daemon.Tests;

/// <summary>STREAM_OPEN and STREAM_HANDLER between two daemons over real TCP: bytes, half-closes and resets.</summary>
public sealed class StreamTests : IAsyncLifetime
{
    private TestDaemon _a = null!;
    private TestDaemon _b = null!;

    public async Task InitializeAsync()
    {
        _a = await TestDaemon.StartAsync();
        _b = await TestDaemon.StartAsync();
        Assert.Equal(Response.Types.Type.Ok, (await _a.RequestAsync(Requests.Connect(_b))).Type);
    }

    public async Task DisposeAsync()
    {
        await _a.DisposeAsync();
        await _b.DisposeAsync();
    }

    /// <summary>A client-side stream handler: a listener the daemon dials for each inbound stream.</summary>
    private sealed class HandlerListener : IDisposable
    {
        private readonly Socket _listener = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

        public HandlerListener()
        {
            _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            _listener.Listen();
        }

        public Multiaddr Address => ControlEndpoint.ToMultiaddr(_listener.LocalEndPoint!);

        public async Task<ControlClient> AcceptAsync()
        {
            using var timeout = new CancellationTokenSource(TestDaemon.Patience);
            var socket = await _listener.AcceptAsync(timeout.Token);
            return ControlClient.Wrap(socket);
        }

        public void Dispose() => _listener.Dispose();
    }

    private static Request Handler(Multiaddr address, params string[] protocols) => new()
    {
        Type = Request.Types.Type.StreamHandler,
        StreamHandler = new StreamHandlerRequest { Addr = ByteString.CopyFrom(address.Bytes.Span), Proto = { protocols } },
    };

    private Request Open(TestDaemon target, params string[] protocols) => new()
    {
        Type = Request.Types.Type.StreamOpen,
        StreamOpen = new StreamOpenRequest { Peer = ByteString.CopyFrom(target.Host.PeerId.Bytes.Span), Proto = { protocols } },
    };

    [Fact]
    public async Task BytesAndHalfClosesCrossBothWays()
    {
        using var handler = new HandlerListener();
        Assert.Equal(Response.Types.Type.Ok, (await _b.RequestAsync(Handler(handler.Address, "/test/echo/1"))).Type);

        await using var opener = await _a.ConnectAsync();
        await opener.SendAsync(Open(_b, "/test/none/1", "/test/echo/1"));
        // The request and the first stream bytes may travel together: nothing is lost.
        await opener.SendRawAsync("hello "u8.ToArray());
        var response = await opener.ReadAsync(Response.Parser);
        Assert.Equal(Response.Types.Type.Ok, response.Type);
        Assert.Equal("/test/echo/1", response.StreamInfo.Proto);
        Assert.Equal(_b.Host.PeerId.Bytes.ToArray(), response.StreamInfo.Peer.ToByteArray());
        Assert.Equal(_b.Host.ListenAddresses[0], Multiaddr.Decode(response.StreamInfo.Addr.Span));

        await using var accepted = await handler.AcceptAsync();
        var info = await accepted.ReadAsync(StreamInfo.Parser);
        Assert.Equal("/test/echo/1", info.Proto);
        Assert.Equal(_a.Host.PeerId.Bytes.ToArray(), info.Peer.ToByteArray());

        await opener.SendRawAsync("world"u8.ToArray());
        opener.CloseWrite();
        Assert.Equal("hello world", System.Text.Encoding.UTF8.GetString(await accepted.ReadToEndAsync())); // the half-close arrived
        await accepted.SendRawAsync("reply"u8.ToArray());            // and the other direction is still open
        accepted.CloseWrite();
        Assert.Equal("reply", System.Text.Encoding.UTF8.GetString(await opener.ReadToEndAsync()));
    }

    [Fact]
    public async Task ARegistrationReplacesTheHandlerAddress()
    {
        using var first = new HandlerListener();
        using var second = new HandlerListener();
        Assert.Equal(Response.Types.Type.Ok, (await _b.RequestAsync(Handler(first.Address, "/test/moved/1"))).Type);
        Assert.Equal(Response.Types.Type.Ok, (await _b.RequestAsync(Handler(second.Address, "/test/moved/1"))).Type);
        await using var opener = await _a.ConnectAsync();
        await opener.SendAsync(Open(_b, "/test/moved/1"));
        Assert.Equal(Response.Types.Type.Ok, (await opener.ReadAsync(Response.Parser)).Type);
        await using var accepted = await second.AcceptAsync();
        Assert.Equal("/test/moved/1", (await accepted.ReadAsync(StreamInfo.Parser)).Proto);
    }

    [Fact]
    public async Task TheDaemonsOwnProtocolsCannotBeTakenOver()
    {
        using var handler = new HandlerListener();
        var response = await _b.RequestAsync(Handler(handler.Address, "/ipfs/ping/1.0.0"));
        Assert.Equal(Response.Types.Type.Error, response.Type);
        Assert.Contains("served by the daemon itself", response.Error.Msg);
    }

    [Fact]
    public async Task AnUnreachableHandlerResetsTheStream()
    {
        Multiaddr gone;
        using (var handler = new HandlerListener()) gone = handler.Address; // closed again: nobody listens there
        Assert.Equal(Response.Types.Type.Ok, (await _b.RequestAsync(Handler(gone, "/test/gone/1"))).Type);
        await using var opener = await _a.ConnectAsync();
        await opener.SendAsync(Open(_b, "/test/gone/1"));
        Assert.Equal(Response.Types.Type.Ok, (await opener.ReadAsync(Response.Parser)).Type);
        // The remote end resets the stream: our socket is reset too, never ended cleanly.
        var error = await Record.ExceptionAsync(opener.ReadToEndAsync);
        Assert.True(error is IOException or SocketException, error?.ToString() ?? "the stream ended cleanly");
    }

    [Fact]
    public async Task ProtocolsThePeerDoesNotServeAreRefused()
    {
        // Several protocols are negotiated before the answer: none served is an ERROR response.
        var response = await _a.RequestAsync(Open(_b, "/test/nobody/1", "/test/nobody/2"));
        Assert.Equal(Response.Types.Type.Error, response.Type);
        Assert.Contains("/test/nobody/2", response.Error.Msg);

        // A single protocol is proposed lazily (as go-libp2p does): the refusal arrives with the first read, and the
        // client's socket is reset rather than ended cleanly.
        await using var opener = await _a.ConnectAsync();
        await opener.SendAsync(Open(_b, "/test/nobody/1"));
        Assert.Equal(Response.Types.Type.Ok, (await opener.ReadAsync(Response.Parser)).Type);
        await opener.SendRawAsync("anyone?"u8.ToArray());
        var error = await Record.ExceptionAsync(opener.ReadToEndAsync);
        Assert.True(error is IOException or SocketException, error?.ToString() ?? "the stream ended cleanly");
    }

    [Fact]
    public async Task ControlOverAUnixSocket()
    {
        string path = Path.Combine(Path.GetTempPath(), $"p2pd-test-{Guid.NewGuid():N}.sock");
        try
        {
            await using (var daemon = await TestDaemon.StartAsync(null, o => o.ControlAddress = Multiaddr.Parse($"/unix{path}")))
            {
                Assert.Equal($"/unix{path}", daemon.ControlAddress.ToString());
                if (!OperatingSystem.IsWindows()) Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
                Assert.Equal(Response.Types.Type.Ok, (await daemon.RequestAsync(Requests.Identify())).Type);
                // A second daemon on the same path is refused, not allowed to take it over.
                await Assert.ThrowsAsync<IOException>(() => TestDaemon.StartAsync(null, o => o.ControlAddress = Multiaddr.Parse($"/unix{path}")));
            }
            Assert.False(File.Exists(path)); // removed on stop
        }
        finally
        {
            File.Delete(path);
        }
    }
}
