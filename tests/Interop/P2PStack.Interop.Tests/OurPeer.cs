using System.Security.Cryptography;
using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Host;
using P2PStack.Network;

namespace P2PStack.Interop.Tests;

/// <summary>
/// A real P2PStack host with the stack js-libp2p speaks: TCP and WebSocket, Noise, Yamux, identify, ping, perf and
/// /echo/1.0.0. Listens on 127.0.0.1 (TCP and WebSocket, OS-picked ports).
/// </summary>
public sealed class OurPeer : IAsyncDisposable
{
    private readonly ServiceProvider _services;

    private OurPeer(ServiceProvider services)
    {
        _services = services;
        Host = services.GetRequiredService<PeerHost>();
    }

    public PeerHost Host { get; }

    public T Get<T>() where T : notnull => _services.GetRequiredService<T>();

    public Multiaddr TcpAddress => WithPeerId(Host.ListenAddresses.First(a => !JsPeer.IsWebSocket(a)));

    public Multiaddr WebSocketAddress => WithPeerId(Host.ListenAddresses.First(JsPeer.IsWebSocket));

    public Multiaddr Address(string transport) => transport == "ws" ? WebSocketAddress : TcpAddress;

    private Multiaddr WithPeerId(Multiaddr address) => address.Encapsulate($"/p2p/{Host.PeerId}");

    public static async Task<OurPeer> StartAsync(Action<IP2PBuilder>? configure = null, Action<HostOptions>? configureHost = null)
    {
        var services = new ServiceCollection();
        services.AddP2PStack(p2p =>
        {
            p2p.ListenOn("/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/tcp/0/ws")
                .AddTcpTransport()
                .AddWebSocketTransport()
                .AddNoise()
                .AddYamux()
                .AddIdentify()
                .AddPing()
                .AddPerf()
                .AddProtocol<EchoHandler>();
            configure?.Invoke(p2p);
            if (configureHost is not null) p2p.ConfigureHost(configureHost);
        });
        var peer = new OurPeer(services.BuildServiceProvider());
        await peer.Host.StartAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
        return peer;
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        await _services.DisposeAsync();
    }
}

/// <summary><c>/echo/1.0.0</c> as peer.mjs serves it: every byte goes back; our write side closes after the remote's.</summary>
public sealed class EchoHandler : IProtocolHandler
{
    public const string Protocol = "/echo/1.0.0";

    public IReadOnlyList<string> Protocols { get; } = [Protocol];

    public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
    {
        await using (stream)
        {
            await stream.Input.CopyToAsync(stream.Output, cancellationToken);
            await stream.Output.CompleteAsync();
        }
    }

    /// <summary>
    /// Opens an echo stream, sends <paramref name="size"/> random bytes while reading the answer, closes the write
    /// side, and checks the answer has exactly the bytes sent. Returns the SHA-256 of the payload (hex).
    /// </summary>
    public static async Task<string> RoundTripAsync(IConnection connection, int size, CancellationToken cancellationToken)
    {
        byte[] payload = RandomNumberGenerator.GetBytes(size);
        await using var stream = await connection.OpenStreamAsync([Protocol], cancellationToken);
        var reading = ReadAllAsync(stream, size, cancellationToken);
        const int Chunk = 64 * 1024;
        for (int offset = 0; offset < size; offset += Chunk)
            await stream.Output.WriteAsync(payload.AsMemory(offset, Math.Min(Chunk, size - offset)), cancellationToken);
        await stream.Output.CompleteAsync();
        var (received, hash) = await reading;
        string sent = Convert.ToHexStringLower(SHA256.HashData(payload));
        if (received != size) throw new InvalidDataException($"echo returned {received} bytes, sent {size}");
        if (hash != sent) throw new InvalidDataException($"echo payload differs: sent sha256 {sent}, got {hash}");
        return sent;
    }

    private static async Task<(long Received, string Sha256)> ReadAllAsync(IStream stream, int limit, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long received = 0;
        while (true)
        {
            var result = await stream.Input.ReadAsync(cancellationToken);
            foreach (var segment in result.Buffer)
            {
                hash.AppendData(segment.Span);
                received += segment.Length;
            }
            stream.Input.AdvanceTo(result.Buffer.End);
            if (received > limit) throw new InvalidDataException($"echo returned more than the {limit} bytes sent");
            if (result.IsCompleted || result.IsCanceled) break;
        }
        return (received, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }
}
