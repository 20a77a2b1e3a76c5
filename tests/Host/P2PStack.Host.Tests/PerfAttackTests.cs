using System.Buffers.Binary;
using System.IO.Pipelines;
using Microsoft.Extensions.Options;
using NSubstitute;
using P2PStack.Addressing;
using P2PStack.IO;
using P2PStack.Network;
using P2PStack.Protocols.Perf;

namespace P2PStack.Host.Tests;

/// <summary>
/// Attack path 6: perf lets a peer make the node send and receive as much as it asks for. The handler is driven
/// directly with a stream whose connection comes from the address under test (a public one cannot be had in a test).
/// </summary>
public sealed class PerfAttackTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    private sealed class RecordedStream : IStream
    {
        private readonly IDuplexPipe _pipe;

        public RecordedStream(IDuplexPipe pipe, string remoteAddress)
        {
            _pipe = pipe;
            Connection = Substitute.For<IConnection>();
            Connection.RemoteAddress.Returns(Multiaddr.Parse(remoteAddress));
        }

        public PipeReader Input => _pipe.Input;
        public PipeWriter Output => _pipe.Output;
        public string Protocol => PerfProtocol.Id;
        public IConnection Connection { get; }
        public Direction Direction => Direction.Inbound;
        public bool WasReset { get; private set; }

        public void Reset()
        {
            WasReset = true;
            _pipe.Input.Complete();
            _pipe.Output.Complete();
        }

        public ValueTask DisposeAsync()
        {
            _pipe.Input.Complete();
            _pipe.Output.Complete();
            return ValueTask.CompletedTask;
        }
    }

    private static (RecordedStream Server, IDuplexPipe Client) Open(string remoteAddress)
    {
        var (server, client) = DuplexPipe.CreatePair();
        return (new RecordedStream(server, remoteAddress), client);
    }

    private static async Task RequestAsync(IDuplexPipe client, ulong download, bool close = true)
    {
        var size = new byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(size, download);
        await client.Output.WriteAsync(size);
        if (close) await client.Output.CompleteAsync();
    }

    private static PerfHandler Handler(Action<PerfOptions>? configure = null)
    {
        var options = new PerfOptions();
        configure?.Invoke(options);
        return new PerfHandler(Options.Create(options));
    }

    [Fact]
    public async Task A_peer_on_a_public_address_is_not_served_by_default()
    {
        var (server, client) = Open("/ip4/203.0.113.7/tcp/4001");
        var serve = Handler().HandleAsync(server, CancellationToken.None);
        await RequestAsync(client, 1024 * 1024);
        await serve.WaitAsync(Patience);
        Assert.True(server.WasReset);
    }

    [Fact]
    public async Task A_public_peer_is_served_when_perf_is_opened_to_them()
    {
        var (server, client) = Open("/ip4/203.0.113.7/tcp/4001");
        var serve = Handler(o => o.ServePublicPeers = true).HandleAsync(server, CancellationToken.None);
        await RequestAsync(client, 100_000);
        Assert.Equal(100_000UL, await PerfProtocol.DrainAsync(client.Input, CancellationToken.None).AsTask().WaitAsync(Patience));
        await serve.WaitAsync(Patience);
        Assert.False(server.WasReset);
    }

    [Theory]
    [InlineData("/ip4/127.0.0.1/tcp/4001")]
    [InlineData("/ip4/192.168.1.20/tcp/4001")]
    [InlineData("/ip6/fd00::5/tcp/4001")]
    [InlineData("/memory/7")]
    public async Task Local_and_private_peers_are_served(string address)
    {
        var (server, client) = Open(address);
        var serve = Handler().HandleAsync(server, CancellationToken.None);
        await RequestAsync(client, 70_000);
        Assert.Equal(70_000UL, await PerfProtocol.DrainAsync(client.Input, CancellationToken.None).AsTask().WaitAsync(Patience));
        await serve.WaitAsync(Patience);
    }

    [Fact]
    public async Task A_download_over_the_per_stream_cap_is_refused()
    {
        var (server, client) = Open("/ip4/127.0.0.1/tcp/4001");
        var serve = Handler().HandleAsync(server, CancellationToken.None);
        await RequestAsync(client, 4UL * 1024 * 1024 * 1024); // 4 GiB: under the old 8 GiB cap
        await serve.WaitAsync(Patience);
        Assert.True(server.WasReset);
    }

    [Fact]
    public async Task An_upload_over_the_per_stream_cap_is_cut()
    {
        var (server, client) = Open("/ip4/127.0.0.1/tcp/4001");
        var serve = Handler(o => o.MaxUploadBytes = 1024 * 1024).HandleAsync(server, CancellationToken.None);
        await RequestAsync(client, 10, close: false);
        var upload = Task.Run(async () =>
        {
            try
            {
                await PerfProtocol.WriteBytesAsync(client.Output, 64UL * 1024 * 1024, CancellationToken.None);
            }
            catch (Exception e) when (e is IOException or InvalidOperationException)
            {
            }
        });
        await serve.WaitAsync(Patience);
        Assert.True(server.WasReset);
        await upload.WaitAsync(Patience);
    }

    [Fact]
    public async Task A_silent_peer_is_cut_after_the_stream_timeout()
    {
        var (server, client) = Open("/ip4/127.0.0.1/tcp/4001");
        var serve = Handler(o => o.StreamTimeout = TimeSpan.FromMilliseconds(300)).HandleAsync(server, CancellationToken.None);
        await serve.WaitAsync(Patience); // never sends its size
        Assert.True(server.WasReset);
        GC.KeepAlive(client);
    }

    [Fact]
    public async Task Streams_beyond_the_concurrency_limit_are_refused()
    {
        var handler = Handler(o => o.MaxConcurrentStreams = 2);
        var held = Enumerable.Range(0, 2).Select(_ => Open("/ip4/127.0.0.1/tcp/4001")).ToList();
        var serving = held.Select(s => handler.HandleAsync(s.Server, CancellationToken.None)).ToList(); // silent: held open
        var (extra, client) = Open("/ip4/127.0.0.1/tcp/4001");
        await handler.HandleAsync(extra, CancellationToken.None).WaitAsync(Patience);
        Assert.True(extra.WasReset);
        foreach (var (_, c) in held) await RequestAsync(c, 0);
        await Task.WhenAll(serving).WaitAsync(Patience);
        GC.KeepAlive(client);
    }
}
