using P2PStack.Identity;

namespace P2PStack.Protocols.Kademlia.Lookup;

/// <summary>Asks one peer about the lookup's target; returns the closer peers it named. Throwing marks it unreachable.</summary>
public delegate Task<IReadOnlyList<PeerId>> LookupQuery(PeerId peer, CancellationToken cancellationToken);

/// <summary>Parameters of one lookup.</summary>
/// <param name="K">Peers the lookup returns, and how many of the closest are queried in the follow-up.</param>
/// <param name="Alpha">Queries in flight at once.</param>
/// <param name="Beta">The main phase ends when the closest <paramref name="Beta"/> peers seen have all answered.</param>
public sealed record LookupParameters(int K, int Alpha, int Beta);

/// <summary>How a lookup ended.</summary>
public enum LookupTermination
{
    /// <summary>The closest peers seen have all been queried.</summary>
    Completed,
    /// <summary>Nobody was left to query (a network smaller than k, or every peer failed).</summary>
    Starved,
    /// <summary>The caller's stop condition fired (e.g. enough values found).</summary>
    Stopped,
}

/// <summary>Outcome of a lookup.</summary>
/// <param name="ClosestPeers">Up to k peers that answered, closest to the target first.</param>
/// <param name="Queried">Peers that answered.</param>
/// <param name="Unreachable">Peers whose query failed.</param>
public sealed record LookupResult(IReadOnlyList<PeerId> ClosestPeers, LookupTermination Termination, int Queried, int Unreachable);

/// <summary>
/// The Kademlia iterative lookup (libp2p kad-dht spec, go-libp2p-kad-dht's query): starting from the closest known
/// peers, keep α queries in flight to the closest peers heard of but not yet asked, until the β closest peers seen have
/// answered (or nobody is left); then a follow-up queries every one of the k closest not yet asked, until the k closest
/// reachable peers seen have all been queried. Independent of networking: the query is a delegate.
/// </summary>
public static class IterativeLookup
{
    private enum State { Heard, Waiting, Queried, Unreachable }

    private sealed class Candidate(PeerId peer, KadKey distance)
    {
        public PeerId Peer { get; } = peer;
        public KadKey Distance { get; } = distance;
        public State State { get; set; }
    }

    private readonly record struct Reply(Candidate Candidate, IReadOnlyList<PeerId>? Peers);

    /// <param name="self">Never queried nor returned.</param>
    /// <param name="seeds">Starting peers (the closest of the routing table).</param>
    /// <param name="shouldStop">Checked after each answer; true ends the lookup early.</param>
    public static async Task<LookupResult> RunAsync(KadKey target, PeerId self, IEnumerable<PeerId> seeds, LookupQuery query,
        LookupParameters parameters, Func<bool>? shouldStop, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentOutOfRangeException.ThrowIfLessThan(parameters.K, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(parameters.Alpha, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(parameters.Beta, 1);

        var known = new Dictionary<PeerId, Candidate>();
        var sorted = new List<Candidate>(); // by distance to the target, closest first
        void Hear(PeerId peer)
        {
            if (peer == self || known.ContainsKey(peer)) return;
            var candidate = new Candidate(peer, KadKey.FromPeer(peer).Xor(target));
            known[peer] = candidate;
            int index = sorted.BinarySearch(candidate, DistanceComparer.Instance);
            sorted.Insert(index < 0 ? ~index : index, candidate);
        }
        foreach (var seed in seeds) Hear(seed);

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var inFlight = new List<Task<Reply>>();
        var termination = LookupTermination.Completed;
        try
        {
            // Main phase.
            while (true)
            {
                if (shouldStop?.Invoke() == true) { termination = LookupTermination.Stopped; break; }
                if (ClosestAllQueried(sorted, parameters.Beta)) { termination = LookupTermination.Completed; break; }
                int waiting = inFlight.Count;
                foreach (var next in sorted.Where(c => c.State == State.Heard).Take(parameters.Alpha - waiting).ToList())
                    inFlight.Add(Ask(next, query, cts.Token));
                if (inFlight.Count == 0) { termination = LookupTermination.Starved; break; }
                await Collect(inFlight, Hear, cancellationToken).ConfigureAwait(false);
            }

            // Follow-up: query every one of the k closest reachable peers not asked yet (peers they name may enter the
            // k closest and are asked too), so the lookup ends with the k closest all queried.
            while (termination != LookupTermination.Stopped)
            {
                foreach (var next in sorted.Where(c => c.State != State.Unreachable).Take(parameters.K).Where(c => c.State == State.Heard).ToList())
                    inFlight.Add(Ask(next, query, cts.Token));
                if (inFlight.Count == 0) break;
                await Collect(inFlight, Hear, cancellationToken).ConfigureAwait(false);
                if (shouldStop?.Invoke() == true) termination = LookupTermination.Stopped;
            }
        }
        finally
        {
            if (inFlight.Count > 0)
            {
                await cts.CancelAsync().ConfigureAwait(false);
                await Task.WhenAll(inFlight).ConfigureAwait(false); // Ask never throws
            }
        }
        cancellationToken.ThrowIfCancellationRequested();

        return new LookupResult(
            [.. sorted.Where(c => c.State == State.Queried).Take(parameters.K).Select(c => c.Peer)],
            termination,
            sorted.Count(c => c.State == State.Queried),
            sorted.Count(c => c.State == State.Unreachable));
    }

    private static bool ClosestAllQueried(List<Candidate> sorted, int beta)
    {
        int seen = 0;
        foreach (var candidate in sorted)
        {
            if (candidate.State == State.Unreachable) continue;
            if (candidate.State != State.Queried) return false;
            if (++seen == beta) return true;
        }
        // Fewer than beta reachable peers: done only when every one answered and nothing is pending.
        return seen > 0;
    }

    private static Task<Reply> Ask(Candidate candidate, LookupQuery query, CancellationToken cancellationToken)
    {
        candidate.State = State.Waiting;
        return Run();

        async Task<Reply> Run()
        {
            try
            {
                var peers = await query(candidate.Peer, cancellationToken).ConfigureAwait(false);
                return new Reply(candidate, peers);
            }
            catch (Exception)
            {
                return new Reply(candidate, null);
            }
        }
    }

    private static async Task Collect(List<Task<Reply>> inFlight, Action<PeerId> hear, CancellationToken cancellationToken)
    {
        var done = await Task.WhenAny(inFlight).WaitAsync(cancellationToken).ConfigureAwait(false);
        inFlight.Remove(done);
        var reply = await done.ConfigureAwait(false);
        if (reply.Peers is null)
        {
            reply.Candidate.State = State.Unreachable;
            return;
        }
        reply.Candidate.State = State.Queried;
        foreach (var peer in reply.Peers) hear(peer);
    }

    private sealed class DistanceComparer : IComparer<Candidate>
    {
        public static DistanceComparer Instance { get; } = new();

        public int Compare(Candidate? x, Candidate? y)
        {
            int c = x!.Distance.CompareTo(y!.Distance);
            return c != 0 ? c : x.Peer.CompareTo(y.Peer);
        }
    }
}
