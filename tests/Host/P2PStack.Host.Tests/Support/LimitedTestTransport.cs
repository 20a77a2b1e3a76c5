using P2PStack.Addressing;
using P2PStack.Network;
using P2PStack.Transports.Memory;

namespace P2PStack.Host.Tests;

/// <summary>
/// Stands in for a relay transport: memory connections on <c>/memory/&lt;id&gt;/x-limited</c>, marked as proxied and
/// limited on both ends (as a relay's circuits are). Its own listeners, so a host can listen on a direct and a limited
/// address at once.
/// </summary>
public sealed class LimitedTestTransport(MemoryNetwork network) : ITransport
{
    /// <summary>The marker protocol, registered by this test module (private-use code).</summary>
    public static readonly MultiaddrProtocol Marker = MultiaddrProtocols.Register(new MultiaddrProtocol(0x3f0201, "x-limited", 0, null));

    /// <summary>What a circuit relay v2 announces by default (go-libp2p: 2 minutes, 128 KiB).</summary>
    public static readonly ConnectionLimits Limits = new(TimeSpan.FromMinutes(2), 128 * 1024);

    private static readonly Multiaddr MarkerAddress = Multiaddr.FromComponents([MultiaddrComponent.FromRawValue(Marker, default)]);

    /// <summary>A limited listen address with a free memory id.</summary>
    public static Multiaddr AnyListenAddress => Multiaddr.Parse("/memory/0").Encapsulate(MarkerAddress);

    private readonly MemoryTransport _inner = new(network);

    public string Name => "x-limited";

    public bool IsProxy => true;

    public bool CanDial(Multiaddr address) => Inner(address) is { } inner && _inner.CanDial(inner);

    public bool CanListen(Multiaddr address) => Inner(address) is { } inner && _inner.CanListen(inner);

    public async ValueTask<IRawConnection> DialAsync(Multiaddr address, CancellationToken cancellationToken)
    {
        var raw = await _inner.DialAsync(Inner(address) ?? throw new ArgumentException($"cannot dial {address}"), cancellationToken);
        return new LimitedConnection(raw);
    }

    public async ValueTask<IListener> ListenAsync(Multiaddr address, CancellationToken cancellationToken)
    {
        var listener = await _inner.ListenAsync(Inner(address) ?? throw new ArgumentException($"cannot listen on {address}"), cancellationToken);
        return new LimitedListener(listener);
    }

    private static Multiaddr? Inner(Multiaddr address) =>
        address.Components.Count == 2 && address.Components[1].Protocol == Marker ? address.Decapsulate(MarkerAddress) : null;

    private sealed class LimitedListener(IListener inner) : IListener
    {
        public Multiaddr ListenAddress { get; } = inner.ListenAddress.Encapsulate(MarkerAddress);

        public async ValueTask<IRawConnection> AcceptAsync(CancellationToken cancellationToken) =>
            new LimitedConnection(await inner.AcceptAsync(cancellationToken));

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }

    private sealed class LimitedConnection(IRawConnection inner) : DelegatingRawConnection(inner)
    {
        private readonly Multiaddr _local = inner.LocalAddress.Encapsulate(MarkerAddress);
        private readonly Multiaddr _remote = inner.RemoteAddress.Encapsulate(MarkerAddress);

        public override Multiaddr LocalAddress => _local;

        public override Multiaddr RemoteAddress => _remote;

        public override ConnectionLimits? Limits => LimitedTestTransport.Limits;
    }
}
