using P2PStack.Addressing;
using P2PStack.Conformance.Transport;
using P2PStack.Network;

namespace P2PStack.Host.Tests.Virtual;

/// <summary>
/// The transport conformance suite against a virtual transport: every connection is a stream of a real host
/// connection (TCP, Noise, Yamux) between a listening host and a dialing host.
/// </summary>
public sealed class StreamTransportConformanceTests : TransportConformanceTests, IAsyncLifetime
{
    private TestPeer? _listening;
    private TestPeer? _dialing;

    public async Task InitializeAsync()
    {
        _listening = await StartAsync();
        _dialing = await StartAsync();
        await _dialing.Host.DialAsync(_listening.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
    }

    public async Task DisposeAsync()
    {
        if (_dialing is not null) await _dialing.DisposeAsync();
        if (_listening is not null) await _listening.DisposeAsync();
    }

    internal static Task<TestPeer> StartAsync() =>
        TestPeer.StartAsync("/ip4/127.0.0.1/tcp/0", configure: p2p => p2p.AddTransport<StreamTransport>().AddProtocol<StreamTransport>());

    protected override ITransport CreateTransport() => _listening!.Get<StreamTransport>();

    protected override ITransport CreateDialingTransport() => _dialing!.Get<StreamTransport>();

    protected override Multiaddr ListenAddress => StreamTransport.AnyListenAddress;

    protected override void AssertConcrete(Multiaddr boundAddress)
    {
        Assert.Equal(_listening!.Host.PeerId, boundAddress.GetPeerId());
        Assert.NotEqual("0", boundAddress.ValueOf(StreamTransport.Marker));
    }
}
