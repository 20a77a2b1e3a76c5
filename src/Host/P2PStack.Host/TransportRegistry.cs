using P2PStack.Addressing;
using P2PStack.Network;

namespace P2PStack.Host;

/// <summary>
/// The transports registered in DI, resolved on first use rather than when the host is built: a transport may depend
/// on the host (a relay or circuit transport dials through it), and resolving it lazily needs no service locator.
/// </summary>
public sealed class TransportRegistry(Func<IEnumerable<ITransport>> transports)
{
    private readonly Lazy<ITransport[]> _transports = new(() => [.. transports()]);

    /// <summary>Every transport, in registration order.</summary>
    public IReadOnlyList<ITransport> All => _transports.Value;

    /// <summary>The first transport that can dial <paramref name="address"/>, or null.</summary>
    public ITransport? ForDial(Multiaddr address) => Array.Find(_transports.Value, t => t.CanDial(address));

    /// <summary>The first transport that can listen on <paramref name="address"/>, or null.</summary>
    public ITransport? ForListen(Multiaddr address) => Array.Find(_transports.Value, t => t.CanListen(address));
}
