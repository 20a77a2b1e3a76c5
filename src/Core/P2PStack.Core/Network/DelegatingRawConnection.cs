using System.IO.Pipelines;
using P2PStack.Addressing;

namespace P2PStack.Network;

/// <summary>
/// A raw connection around another that passes on everything it does not change: the addresses and direction, what
/// the carrier says of the connection (limits, anonymity, identity, required filters, admission), abort and dispose.
/// A wrapper (a protector, a counter, a test double) overrides what it changes, usually its pipes (a stand-in carrier in a
/// test may change its addresses or what it says of the connection: every member is virtual). This class is the one
/// place to update when <see cref="IRawConnection"/> gains a member (a new default member is answered with its default
/// by every wrapper until it is forwarded here).
/// </summary>
public abstract class DelegatingRawConnection(IRawConnection inner) : IRawConnection
{
    /// <summary>The connection everything is passed to.</summary>
    protected IRawConnection Inner { get; } = inner ?? throw new ArgumentNullException(nameof(inner));

    public virtual PipeReader Input => Inner.Input;

    public virtual PipeWriter Output => Inner.Output;

    public virtual Multiaddr LocalAddress => Inner.LocalAddress;

    public virtual Multiaddr RemoteAddress => Inner.RemoteAddress;

    public virtual Direction Direction => Inner.Direction;

    public virtual ConnectionLimits? Limits => Inner.Limits;

    public virtual bool IsAnonymous => Inner.IsAnonymous;

    public virtual ILocalIdentity? LocalIdentity => Inner.LocalIdentity;

    public virtual IReadOnlyList<string>? RequiredInboundFilters => Inner.RequiredInboundFilters;

    public virtual IAdmissionTicket? Admission => Inner.Admission;

    public virtual void Abort() => Inner.Abort();

    public virtual ValueTask DisposeAsync() => Inner.DisposeAsync();
}
