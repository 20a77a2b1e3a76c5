using P2PStack.Encoding;
using P2PStack.Identity;

namespace P2PStack.Protocols.Kademlia.Validation;

/// <summary>
/// The <c>/pk</c> namespace: key <c>/pk/</c> + a peer id's binary multihash, value the protobuf public key whose
/// peer id is that multihash. All valid values of a key are the same key, so selection takes the first.
/// </summary>
public sealed class PublicKeyValidator : IRecordValidator
{
    public const string Namespace = "pk";

    /// <summary>The record key for <paramref name="peer"/>'s public key.</summary>
    public static byte[] KeyFor(PeerId peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        return [.. "/pk/"u8, .. peer.Bytes.Span];
    }

    public void Validate(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        var (ns, rest) = NamespacedValidator.SplitKey(key);
        if (ns != Namespace) throw new InvalidRecordException($"namespace '{ns}' is not '{Namespace}'");
        try { Multihash.Decode(rest.Span); }
        catch (MultihashException e) { throw new InvalidRecordException($"/pk key does not hold a valid multihash: {e.Message}", e); }
        PublicKey publicKey;
        try { publicKey = PublicKey.FromProtobuf(value); }
        catch (KeyFormatException e) { throw new InvalidRecordException($"/pk value is not a valid public key: {e.Message}", e); }
        if (!PeerId.FromPublicKey(publicKey).Bytes.Span.SequenceEqual(rest.Span))
            throw new InvalidRecordException("public key does not match the peer id of the /pk key");
    }

    public int Select(ReadOnlySpan<byte> key, IReadOnlyList<ReadOnlyMemory<byte>> values) =>
        values.Count > 0 ? 0 : throw new ArgumentException("no values to select from", nameof(values));
}
