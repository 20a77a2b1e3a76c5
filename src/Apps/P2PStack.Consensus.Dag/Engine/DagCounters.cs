namespace P2PStack.Consensus.Dag;

/// <summary>Running totals of one engine (written by its loop; read them from there, or through a snapshot).</summary>
public sealed class DagCounters
{
    private long[] _refused = new long[DagRefusals.All.Count];

    public long PollsStarted { get; internal set; }

    public long PollsCompleted { get; internal set; }

    /// <summary>Polls that ended at their deadline with members still silent.</summary>
    public long PollsTimedOut { get; internal set; }

    public long QueriesAnswered { get; internal set; }

    public long VotesReceived { get; internal set; }

    /// <summary>Messages handed to the outbox (every kind).</summary>
    public long MessagesSent { get; internal set; }

    public long BytesSent { get; internal set; }

    public long MessagesReceived { get; internal set; }

    public long VerticesReceived { get; internal set; }

    public long VerticesFetched { get; internal set; }

    public long FetchRequests { get; internal set; }

    public long FetchTimeouts { get; internal set; }

    public long Accepted { get; internal set; }

    public long Rejected { get; internal set; }

    public long Equivocations { get; internal set; }

    public long Refused(DagRefusal reason) => _refused[(int)reason];

    public long RefusedTotal => _refused.Sum();

    public IReadOnlyDictionary<string, long> RefusedByReason =>
        DagRefusals.All.Where(r => _refused[(int)r] > 0).ToDictionary(r => r.Label(), r => _refused[(int)r], StringComparer.Ordinal);

    internal void Refuse(DagRefusal reason) => _refused[(int)reason]++;

    public DagCounters Clone()
    {
        var copy = (DagCounters)MemberwiseClone();
        copy._refused = (long[])_refused.Clone();
        return copy;
    }
}
