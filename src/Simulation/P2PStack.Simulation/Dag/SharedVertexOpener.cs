using P2PStack.Consensus.Dag;

namespace P2PStack.Simulation.Dag;

/// <summary>
/// One real check per distinct vertex envelope, shared by all the engines of one model run: the first engine to receive
/// the bytes runs <see cref="VertexCodec.Open"/> (size, Ed25519 signature, structure, clock skew); every other engine
/// receiving the same bytes (same <see cref="VertexId"/>, the hash of the whole envelope) gets the vertex it produced,
/// or the same refusal, with the clock skew checked again at its own time. The outcome for every engine is the one
/// its own check would give (the check depends only on the bytes, the options and the time); the model saves N - 1
/// signature checks per vertex. Not thread-safe, like the model.
/// </summary>
/// <param name="share">False: every envelope is checked (and counted) anew, nothing is remembered.</param>
public sealed class SharedVertexOpener(bool share = true) : IVertexOpener
{
    private readonly Dictionary<VertexId, (DagVertex? Vertex, DagRefusal Reason, string Message)> _checked = [];
    private DagConsensusOptions? _options;

    /// <summary>Envelopes checked for real (the rest were answered from those checks).</summary>
    public long Checks { get; private set; }

    /// <summary>Envelopes answered from an earlier check of the same bytes.</summary>
    public long Shared { get; private set; }

    public DagVertex Open(ReadOnlySpan<byte> envelope, DagConsensusOptions options, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options ??= options;
        // Another set of limits would give other answers; oversized input is refused before it is hashed.
        if (!share || !ReferenceEquals(options, _options) || envelope.Length > options.MaxVertexSize) return Check(envelope, options, now);
        var id = VertexId.Of(envelope);
        if (!_checked.TryGetValue(id, out var known)) return Remember(id, envelope, options, now);
        Shared++;
        if (known.Vertex is not { } vertex) throw new DagFormatException(known.Reason, known.Message);
        // The one check that depends on the receiver's clock (the last in VertexCodec.Open).
        if (vertex.Timestamp > now + options.MaxClockSkew)
            throw new DagFormatException(DagRefusal.ClockSkew, $"vertex timestamped {(vertex.Timestamp - now).TotalSeconds:0.#} s in the future");
        return vertex;
    }

    private DagVertex Remember(VertexId id, ReadOnlySpan<byte> envelope, DagConsensusOptions options, DateTimeOffset now)
    {
        try
        {
            var vertex = Check(envelope, options, now);
            _checked[id] = (vertex, default, "");
            return vertex;
        }
        catch (DagFormatException e) when (e.Reason != DagRefusal.ClockSkew)
        {
            // A vertex too far in the future may be fine at a later time: checked again then; every other refusal
            // depends on the bytes alone.
            _checked[id] = (null, e.Reason, e.Message);
            throw;
        }
    }

    private DagVertex Check(ReadOnlySpan<byte> envelope, DagConsensusOptions options, DateTimeOffset now)
    {
        Checks++;
        return VertexCodec.Open(envelope, options, now);
    }
}
