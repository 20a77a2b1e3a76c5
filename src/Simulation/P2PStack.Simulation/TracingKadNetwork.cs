using System.Collections.Concurrent;
using P2PStack.Identity;
using P2PStack.Protocols.Kademlia;
using P2PStack.Protocols.Kademlia.Pb;

namespace P2PStack.Simulation;

/// <summary>
/// What one measured lookup did: requests sent for its key, and how many request rounds deep the target was first
/// named. A peer taken from the routing table is depth 1; a peer first named in the answer of a depth-d peer is
/// depth d + 1; the lookup's hop count is the depth of the peer whose answer first named the target.
/// </summary>
public sealed class LookupTrace(PeerId target)
{
    private readonly ConcurrentDictionary<PeerId, int> _depth = new();
    private readonly Lock _gate = new();
    private int _requests;
    private int _failures;

    public PeerId Target { get; } = target;

    internal ReadOnlyMemory<byte> Key { get; } = target.Bytes;

    /// <summary>Requests sent for the lookup's key (each is one request and one response message).</summary>
    public int Requests => Volatile.Read(ref _requests);

    /// <summary>Requests that failed (no answer, reset, timeout).</summary>
    public int Failures => Volatile.Read(ref _failures);

    /// <summary>Depth of the peer whose answer first named the target; null when no answer named it.</summary>
    public int? HopsToTarget { get; private set; }

    /// <summary>Requests sent by the time the target was first named (the cost of a lookup that stops there).</summary>
    public int? RequestsUntilTarget { get; private set; }

    /// <summary>Deepest request round of the lookup.</summary>
    public int MaxDepth { get; private set; }

    internal int BeginRequest(PeerId peer)
    {
        Interlocked.Increment(ref _requests);
        int depth = _depth.GetOrAdd(peer, 1);
        lock (_gate) MaxDepth = Math.Max(MaxDepth, depth);
        return depth;
    }

    internal void Answered(int depth, IEnumerable<Message.Types.Peer> closer)
    {
        foreach (var wire in closer)
        {
            PeerId peer;
            try { peer = PeerId.FromBytes(wire.Id.Span); }
            catch (P2PFormatException) { continue; }
            _depth.TryAdd(peer, depth + 1);
            if (peer != Target) continue;
            lock (_gate)
            {
                if (HopsToTarget is null || depth < HopsToTarget)
                {
                    RequestsUntilTarget ??= Requests;
                    HopsToTarget = depth;
                }
            }
        }
    }

    internal void Failed() => Interlocked.Increment(ref _failures);
}

/// <summary>
/// Passes every DHT request through to the host's network, and records the requests of the lookup traced in the
/// current async flow (<see cref="Current"/>) whose key is the traced target. Other traffic (liveness checks,
/// other lookups) is not counted.
/// </summary>
internal sealed class TracingKadNetwork(IKadNetwork inner) : IKadNetwork
{
    public static readonly AsyncLocal<LookupTrace?> Current = new();

    public async Task<Message?> SendAsync(PeerId peer, Message request, bool expectResponse, CancellationToken cancellationToken)
    {
        var trace = Current.Value;
        if (trace is null || !request.Key.Span.SequenceEqual(trace.Key.Span))
            return await inner.SendAsync(peer, request, expectResponse, cancellationToken).ConfigureAwait(false);
        int depth = trace.BeginRequest(peer);
        Message? response;
        try
        {
            response = await inner.SendAsync(peer, request, expectResponse, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            trace.Failed();
            throw;
        }
        if (response is not null) trace.Answered(depth, response.CloserPeers);
        return response;
    }
}
