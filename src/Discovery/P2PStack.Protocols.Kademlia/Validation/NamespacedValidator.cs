
namespace P2PStack.Protocols.Kademlia.Validation;

/// <summary>
/// Routes each key to the validator of its namespace: a key <c>/ns/rest</c> has namespace <c>ns</c>. Keys without a
/// namespace, or of a namespace nobody registered, are invalid (as in go-libp2p-record).
/// </summary>
public sealed class NamespacedValidator : IRecordValidator
{
    private readonly Dictionary<string, IRecordValidator> _validators = new(StringComparer.Ordinal);

    public NamespacedValidator Add(string ns, IRecordValidator validator)
    {
        ArgumentException.ThrowIfNullOrEmpty(ns);
        ArgumentNullException.ThrowIfNull(validator);
        _validators[ns] = validator;
        return this;
    }

    public IReadOnlyCollection<string> Namespaces => _validators.Keys;

    public void Validate(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) => ValidatorFor(key).Validate(key, value);

    public int Select(ReadOnlySpan<byte> key, IReadOnlyList<ReadOnlyMemory<byte>> values)
    {
        if (values.Count == 0) throw new ArgumentException("no values to select from", nameof(values));
        return ValidatorFor(key).Select(key, values);
    }

    private IRecordValidator ValidatorFor(ReadOnlySpan<byte> key)
    {
        var (ns, _) = SplitKey(key);
        return _validators.TryGetValue(ns, out var validator)
            ? validator
            : throw new InvalidRecordException($"no validator for record namespace '{ns}'");
    }

    /// <summary>Splits <c>/ns/rest</c> into the namespace and the rest (raw bytes).</summary>
    /// <exception cref="InvalidRecordException">The key has no namespace.</exception>
    public static (string Namespace, ReadOnlyMemory<byte> Remainder) SplitKey(ReadOnlySpan<byte> key)
    {
        if (key.Length < 3 || key[0] != (byte)'/')
            throw new InvalidRecordException("record key has no namespace (it must look like /namespace/...)");
        int end = key[1..].IndexOf((byte)'/');
        if (end <= 0) throw new InvalidRecordException("record key has no namespace (it must look like /namespace/...)");
        var nsBytes = key.Slice(1, end);
        foreach (byte b in nsBytes)
            if (b < 0x21 || b > 0x7E) throw new InvalidRecordException("record namespace must be printable ASCII");
        return (System.Text.Encoding.ASCII.GetString(nsBytes), key[(end + 2)..].ToArray());
    }
}
