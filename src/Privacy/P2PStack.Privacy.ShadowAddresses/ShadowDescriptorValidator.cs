using System.Buffers.Binary;
using P2PStack.Protocols.Kademlia;
using P2PStack.Protocols.Kademlia.Validation;

namespace P2PStack.Privacy.ShadowAddresses;

/// <summary>
/// The DHT validator of the <c>/shadow/</c> namespace: what a node storing descriptors can check without knowing the
/// address (layout, blinded-key signature, period, expiry), and the choice among valid descriptors (highest revision).
/// Refusals are counted in <see cref="ShadowMetrics"/> when given.
/// </summary>
public sealed class ShadowDescriptorValidator(TimeSpan periodLength, TimeProvider? time = null, ShadowMetrics? metrics = null) : IRecordValidator
{
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public void Validate(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        try
        {
            ShadowDescriptor.Verify(key, value, _time.GetUtcNow(), periodLength);
        }
        catch (ShadowFormatException ex)
        {
            metrics?.DescriptorRefused(ex.Reason);
            throw new InvalidRecordException(ex.Message, ex);
        }
    }

    public int Select(ReadOnlySpan<byte> key, IReadOnlyList<ReadOnlyMemory<byte>> values)
    {
        int best = 0;
        ulong bestRevision = Revision(values[0].Span);
        for (int i = 1; i < values.Count; i++)
        {
            ulong revision = Revision(values[i].Span);
            if (revision > bestRevision)
            {
                best = i;
                bestRevision = revision;
            }
        }
        return best;
    }

    // Values reaching Select were validated: the revision is at its fixed offset.
    private static ulong Revision(ReadOnlySpan<byte> value) => BinaryPrimitives.ReadUInt64BigEndian(value[53..]);
}
