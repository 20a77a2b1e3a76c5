using System.IO.Pipelines;
using P2PStack.Host;
using P2PStack.Network;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Privacy.Onion.Tests.Anonymity;
using P2PStack.Privacy.Onion.Tests.OnTheWire;

namespace P2PStack.Privacy.Onion.Tests;

/// <summary>The circuit setup the loop tests share: three relays and a destination that echoes to anonymous peers, a
/// circuit pinned through the relays in order, and a payload echoed across it.</summary>
internal static class EchoCircuit
{
    public static Task<OnionTestNetwork> StartAsync(Action<OnionOptions>? relayOptions = null, Action<OnionOptions>? clientOptions = null,
        string listen = "/memory/0", Action<IP2PBuilder>? configureAll = null) =>
        OnionTestNetwork.StartAsync(relays: 3, relayOptions: relayOptions, clientOptions: clientOptions, listen: listen,
            destination: p2p => p2p.AddProtocol<EchoHandler>(),
            destinationHost: o => o.AnonymousConnectionProtocols.Add(EchoHandler.Protocol), configureAll: configureAll);

    /// <summary>Builds the pinned circuit and echoes <paramref name="bytes"/> random bytes (from <paramref name="seed"/>)
    /// to the destination and back, asserting they return intact.</summary>
    public static async Task EchoAsync(OnionTestNetwork network, int bytes, int seed)
    {
        var path = network.Relays.Select(r => r.PeerId).ToList();
        var onion = await network.Client.Client.ConnectAsync(network.Destination.PeerId, new CircuitRequest { Pinned = path, Hops = 3 })
            .WaitAsync(OnionTestNetwork.Patience);
        var payload = new byte[bytes];
        new Random(seed).NextBytes(payload);
        await using var echo = await onion.Connection.OpenStreamAsync([EchoHandler.Protocol], CancellationToken.None).AsTask()
            .WaitAsync(OnionTestNetwork.Patience);
        var reading = FixedSizeCellTests.ReadAllAsync(echo.Input);
        await echo.Output.WriteAsync(payload);
        await echo.Output.CompleteAsync();
        Assert.Equal(payload, await reading.WaitAsync(OnionTestNetwork.Patience));
    }
}

/// <summary>A pass-through link stream that records the requests to read it on the muxer's loop.</summary>
internal sealed class InlineRecordingStream(IStream inner) : IStream
{
    private int _requests;
    private volatile bool _readsInline;

    public int InlineRequests => Volatile.Read(ref _requests);

    public bool ReadsInline => _readsInline;

    public PipeReader Input => inner.Input;

    public PipeWriter Output => inner.Output;

    public string Protocol => inner.Protocol;

    public IConnection Connection => inner.Connection;

    public Direction Direction => inner.Direction;

    public bool TryReadInline()
    {
        Interlocked.Increment(ref _requests);
        _readsInline = inner.TryReadInline();
        return _readsInline;
    }

    public void Reset() => inner.Reset();

    public ValueTask DisposeAsync() => inner.DisposeAsync();

    /// <summary>An interceptor that wraps each link in a recording stream and adds it to <paramref name="links"/> (locked).</summary>
    public static Func<IStream, IStream> Into(List<InlineRecordingStream> links) => stream =>
    {
        var recording = new InlineRecordingStream(stream);
        lock (links) links.Add(recording);
        return recording;
    };
}
