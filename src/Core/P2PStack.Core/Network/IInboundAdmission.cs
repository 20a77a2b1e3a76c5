using P2PStack.Addressing;

namespace P2PStack.Network;

/// <summary>
/// The host's admission of inbound connections, for listeners that spend work on a connection before handing it over
/// (a WebSocket listener's TLS and HTTP upgrade): the same checks as the host's accept loop (handshakes in progress,
/// in total and per IP; every gater's <c>InterceptAccept</c>; the resource manager's transient and system connection
/// limits) run at TCP accept, before a byte is read. The listener then carries the ticket on the raw connection
/// (<see cref="IRawConnection.Admission"/>) and the host does not admit it twice.
/// </summary>
public interface IInboundAdmission
{
    /// <summary>Admits a connection from <paramref name="remoteAddress"/> to <paramref name="localAddress"/> (the
    /// addresses the raw connection will report); null when refused, with the reason.</summary>
    IAdmissionTicket? TryAdmit(Multiaddr localAddress, Multiaddr remoteAddress, out string? refusal);
}

/// <summary>An admission held for one connection. Disposing returns it, unless the host has taken the connection
/// over (a listener disposes it whenever the connection fails or is dropped before the host accepts it).</summary>
public interface IAdmissionTicket : IDisposable;
