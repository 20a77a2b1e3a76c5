namespace P2PStack.Protocols.Kademlia.Validation;

/// <summary>
/// Checks and ranks the records of one key namespace (go-libp2p-record's Validator). Both methods are pure.
/// </summary>
public interface IRecordValidator
{
    /// <summary>Throws when the record is invalid (wrong key form, bad signature, expired...).</summary>
    /// <exception cref="InvalidRecordException">The record is invalid.</exception>
    void Validate(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value);

    /// <summary>Index of the best of <paramref name="values"/> (all already valid); decisions must be stable.</summary>
    int Select(ReadOnlySpan<byte> key, IReadOnlyList<ReadOnlyMemory<byte>> values);
}
