using System.Diagnostics.Metrics;
using P2PStack.Diagnostics;

namespace P2PStack.Nat;

/// <summary>Where a NAT traversal ended: the connection the peer was reached over, or none.</summary>
public enum NatTraversalPath
{
    /// <summary>A direct connection (a direct dial or a hole punch).</summary>
    Direct,

    /// <summary>Only a relayed connection (the hole punch failed or was not tried; the peer is reached through a relay).</summary>
    Relayed,

    /// <summary>The peer was not reached at all (no relay path, every dial failed, the relayed connection closed).</summary>
    Failed,
}

/// <summary>Traversal outcomes of one method since start, and the rates derived from them.</summary>
/// <param name="Direct">Traversals that ended with a direct connection.</param>
/// <param name="Relayed">Traversals that ended relayed.</param>
/// <param name="Failed">Traversals that did not reach the peer.</param>
public sealed record NatTraversalCounts(long Direct, long Relayed, long Failed)
{
    public long Total => Direct + Relayed + Failed;

    /// <summary>The share of traversals that reached the peer (direct or relayed: the goal is direct where a hole
    /// punch can work, else relayed); null before the first traversal.</summary>
    public double? SuccessRate => Total == 0 ? null : (double)(Direct + Relayed) / Total;

    /// <summary>The share of traversals that ended direct (for <c>dcutr</c>: the hole punch success rate, as libp2p's
    /// measurement campaign counts it); null before the first traversal.</summary>
    public double? DirectRate => Total == 0 ? null : (double)Direct / Total;
}

/// <summary>
/// The "NAT traversal success rate", on the <c>P2PStack.Nat</c> meter: one outcome per traversal this node ran,
/// by method and path. Methods: <c>auto</c>, <c>stun</c>, <c>turn</c> (a <c>p2p nat</c> request, counted by the
/// node that ran it) and <c>dcutr</c> (an automatic hole punch, counted by its initiator: the peer that accepted the
/// relayed connection, so that each hole punch counts once in the network). <c>p2pstack_nat_traversals_total</c>
/// counts them; the gauges <c>p2pstack_nat_traversal_success_ratio</c> and <c>p2pstack_nat_traversal_direct_ratio</c>
/// give the rates since start per method (PromQL over the counter gives them over any window).
/// </summary>
public sealed class NatTraversalMetrics : ModuleMetrics
{
    public const string MeterName = "P2PStack.Nat";

    /// <summary>The methods outcomes are recorded for (label values are bounded to these).</summary>
    public static readonly IReadOnlyList<string> Methods = ["auto", "stun", "turn", "dcutr"];

    private static readonly NatTraversalPath[] Paths = Enum.GetValues<NatTraversalPath>();
    private readonly long[] _counts = new long[Methods.Count * Paths.Length];
    private readonly Counter<long> _traversals;

    public NatTraversalMetrics(IMeterFactory? factory = null) : base(factory, MeterName)
    {
        _traversals = Meter.CreateCounter<long>("p2pstack_nat_traversals_total", "{traversal}",
            "NAT traversals by method (auto, stun, turn: p2p nat requests; dcutr: automatic hole punches, counted by their " +
            "initiator) and path (direct, relayed, failed: the peer not reached).");
        Meter.CreateObservableGauge("p2pstack_nat_traversal_success_ratio", () => Ratios(c => c.SuccessRate), "1",
            "Share of NAT traversals since start that reached the peer (direct or relayed), by method.");
        Meter.CreateObservableGauge("p2pstack_nat_traversal_direct_ratio", () => Ratios(c => c.DirectRate), "1",
            "Share of NAT traversals since start that ended with a direct connection, by method (dcutr: the hole punch success rate).");
    }

    /// <summary>Records how one traversal ended.</summary>
    /// <exception cref="ArgumentException">The method is not one of <see cref="Methods"/>.</exception>
    public void Record(string method, NatTraversalPath path)
    {
        int index = IndexOf(method);
        Interlocked.Increment(ref _counts[index * Paths.Length + (int)path]);
        _traversals.Add(1, new KeyValuePair<string, object?>("method", Methods[index]), new KeyValuePair<string, object?>("path", Name(path)));
    }

    /// <summary>The outcomes of one method since start.</summary>
    public NatTraversalCounts Counts(string method)
    {
        int row = IndexOf(method) * Paths.Length;
        return new NatTraversalCounts(Volatile.Read(ref _counts[row + (int)NatTraversalPath.Direct]),
            Volatile.Read(ref _counts[row + (int)NatTraversalPath.Relayed]), Volatile.Read(ref _counts[row + (int)NatTraversalPath.Failed]));
    }

    /// <summary>The outcomes of every method that has any, by method.</summary>
    public IReadOnlyDictionary<string, NatTraversalCounts> Snapshot() =>
        Methods.Select(m => (Method: m, Counts: Counts(m))).Where(m => m.Counts.Total > 0).ToDictionary(m => m.Method, m => m.Counts);

    /// <summary>The label value of a path: <c>direct</c>, <c>relayed</c>, <c>failed</c>.</summary>
    public static string Name(NatTraversalPath path) => path switch
    {
        NatTraversalPath.Direct => "direct",
        NatTraversalPath.Relayed => "relayed",
        NatTraversalPath.Failed => "failed",
        _ => throw new ArgumentOutOfRangeException(nameof(path)),
    };

    private IEnumerable<Measurement<double>> Ratios(Func<NatTraversalCounts, double?> rate)
    {
        foreach (var (method, counts) in Snapshot())
        {
            if (rate(counts) is { } value) yield return new Measurement<double>(value, new KeyValuePair<string, object?>("method", method));
        }
    }

    private static int IndexOf(string method)
    {
        for (int i = 0; i < Methods.Count; i++)
        {
            if (string.Equals(Methods[i], method, StringComparison.Ordinal)) return i;
        }
        throw new ArgumentException($"unknown NAT traversal method '{method}' (one of {string.Join(", ", Methods)})", nameof(method));
    }
}
