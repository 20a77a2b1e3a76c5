using P2PStack.Addressing;
using P2PStack.Network;

namespace P2PStack.Host;

/// <summary>Admission at a listener's accept (<see cref="IInboundAdmission"/>): the accept loop's checks, run before a
/// WebSocket listener's HTTP upgrade; the ticket travels on the raw connection and the accept loop takes it over.</summary>
public sealed partial class PeerHost : IInboundAdmission
{
    IAdmissionTicket? IInboundAdmission.TryAdmit(Multiaddr localAddress, Multiaddr remoteAddress, out string? refusal)
    {
        ArgumentNullException.ThrowIfNull(localAddress);
        ArgumentNullException.ThrowIfNull(remoteAddress);
        ConnectionScope? resources = null;
        if ((TryAdmitInbound(localAddress, remoteAddress) ?? TryOpenInboundScope(remoteAddress, out resources)) is { } refused)
        {
            _metrics.InboundRefused(refused.Label);
            LogInboundRefused(remoteAddress.ToString(), refused.Reason);
            refusal = refused.Reason;
            return null;
        }
        refusal = null;
        return new AdmissionTicket(this, remoteAddress, resources!);
    }

    /// <summary>Takes over a ticket this host issued: its handshake slot and resource scope now belong to the accept
    /// path. False for a ticket of another host, or one already returned.</summary>
    private bool TryTakeAdmission(IRawConnection raw, out ConnectionScope? resources)
    {
        resources = null;
        return raw.Admission is AdmissionTicket ticket && ReferenceEquals(ticket.Host, this) && ticket.TryTake(out resources);
    }

    private sealed class AdmissionTicket(PeerHost host, Multiaddr remote, ConnectionScope resources) : IAdmissionTicket
    {
        private int _done;

        public PeerHost Host { get; } = host;

        public bool TryTake(out ConnectionScope? scope)
        {
            scope = Interlocked.Exchange(ref _done, 1) == 0 ? resources : null;
            return scope is not null;
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) != 0) return;
            resources.Dispose();
            Host.ReleaseInbound(remote);
        }
    }
}
