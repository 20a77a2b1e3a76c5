using P2PStack.Host.Metrics;
using P2PStack.Network;

namespace P2PStack.Benchmarks.Padding;

/// <summary>
/// Counts the bytes a host writes to its TCP sockets (what an observer on the link sees as TCP payload): a connection
/// protector that passes every raw connection through the host's own traffic-counting wrapper, which counts in the
/// writer's <c>Advance</c>. No copy, no extra task, no extra hop (unlike a forwarding proxy, which would add two socket
/// hops to every round trip).
/// </summary>
internal sealed class WireCounter : IConnectionProtector
{
    private readonly TrafficCounter _counter = new();

    /// <summary>Bytes written to all raw connections of this host so far.</summary>
    public long Sent => Interlocked.Read(ref _counter.Sent);

    public ValueTask<IRawConnection> ProtectAsync(IRawConnection connection, CancellationToken cancellationToken) =>
        ValueTask.FromResult<IRawConnection>(new TrafficCountingConnection(connection, _counter));
}
