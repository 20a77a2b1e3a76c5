using P2PStack.Protocols.Kademlia;
using P2PStack.Protocols.Kademlia.Validation;

namespace SynapticMesh.Node;

/// <summary>
/// The DHT namespace <c>/v</c> behind <c>p2p dht put/get</c> with a plain key: key <c>/v/NAME</c> (NAME 1..200 bytes),
/// value 1..<see cref="MaxValueLength"/> bytes of anything. The records are not signed, so anyone can replace one;
/// of several values the greatest (bytewise) wins, so every node settles on the same one. Records that must belong
/// to someone use a signed namespace (<c>/agent</c>, <c>/pk</c>, <c>/ipns</c>).
/// </summary>
public sealed class ValueRecordValidator : IRecordValidator
{
    public const string Namespace = "v";

    public const int MaxNameLength = 200;

    public const int MaxValueLength = 16 * 1024;

    public void Validate(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        var (ns, name) = NamespacedValidator.SplitKey(key);
        if (ns != Namespace) throw new InvalidRecordException($"namespace '{ns}' is not '{Namespace}'");
        if (name.Length is 0 or > MaxNameLength) throw new InvalidRecordException($"a /{Namespace} key needs a name of 1 to {MaxNameLength} bytes");
        if (value.Length is 0 or > MaxValueLength) throw new InvalidRecordException($"a /{Namespace} value must be 1 to {MaxValueLength} bytes");
    }

    public int Select(ReadOnlySpan<byte> key, IReadOnlyList<ReadOnlyMemory<byte>> values)
    {
        if (values.Count == 0) throw new ArgumentException("no values to select from", nameof(values));
        int best = 0;
        for (int i = 1; i < values.Count; i++)
        {
            if (values[i].Span.SequenceCompareTo(values[best].Span) > 0) best = i;
        }
        return best;
    }
}
