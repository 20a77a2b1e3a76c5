namespace P2PStack.Consensus.Dag;

/// <summary>Keeps the DAG in memory only (simulations, tests, nodes without a database). It survives an engine
/// restart in the same process when the same instance is handed to the new engine.</summary>
public sealed class MemoryDagStore : IDagStore
{
    private readonly Dictionary<VertexId, int> _index = [];
    private readonly List<StoredVertex> _vertices = [];
    private readonly List<(byte[] First, byte[] Second)> _equivocations = [];

    public int Count => _vertices.Count;

    /// <summary>In insertion order, which is parents first: the engine only inserts vertices whose parents it holds.</summary>
    public IEnumerable<StoredVertex> Load() => [.. _vertices];

    public IEnumerable<EquivocationProof> LoadEquivocations(DagConsensusOptions options) =>
        [.. _equivocations.Select(e => EquivocationProof.Verify(e.First, e.Second, options, DateTimeOffset.UtcNow))];

    public void Add(DagVertex vertex, VertexStatus status, DateTimeOffset firstSeen, bool local)
    {
        if (_index.ContainsKey(vertex.Id)) return;
        _index[vertex.Id] = _vertices.Count;
        _vertices.Add(new StoredVertex(vertex.Envelope, status, firstSeen, status == VertexStatus.Processing ? null : firstSeen, local));
    }

    public void SetDecided(VertexId id, VertexStatus status, DateTimeOffset decidedAt)
    {
        if (_index.TryGetValue(id, out int i)) _vertices[i] = _vertices[i] with { Status = status, DecidedAt = decidedAt };
    }

    public void AddEquivocation(EquivocationProof proof) => _equivocations.Add((proof.First.Envelope, proof.Second.Envelope));

    public StoredVertex? Find(VertexId id) => _index.TryGetValue(id, out int i) ? _vertices[i] : null;

    public void Commit()
    {
    }
}
