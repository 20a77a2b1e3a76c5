using P2PStack.Network;

namespace P2PStack.Host.Tests;

/// <summary>Holds the first dial at the gate (after the host registered it, before the transport connects) until
/// released.</summary>
internal sealed class HoldingGater : IConnectionGater
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private readonly TaskCompletionSource _entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ManualResetEventSlim _released = new();
    private int _held;

    public Task Entered => _entered.Task;

    public void Release() => _released.Set();

    public GateDecision InterceptDial(P2PStack.Identity.PeerId? peer, P2PStack.Addressing.Multiaddr address)
    {
        if (Interlocked.Exchange(ref _held, 1) != 0) return GateDecision.Allow;
        _entered.TrySetResult();
        return _released.Wait(Patience) ? GateDecision.Allow : GateDecision.Deny("the test never released the dial");
    }

    public GateDecision InterceptAccept(P2PStack.Addressing.Multiaddr localAddress, P2PStack.Addressing.Multiaddr remoteAddress) =>
        GateDecision.Allow;

    public GateDecision InterceptSecured(Direction direction, P2PStack.Identity.PeerId peer, P2PStack.Addressing.Multiaddr remoteAddress,
        string securityProtocol) => GateDecision.Allow;
}
