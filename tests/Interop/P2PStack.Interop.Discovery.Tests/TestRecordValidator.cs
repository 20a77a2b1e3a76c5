using System.Text;
using P2PStack.Protocols.Kademlia;
using P2PStack.Protocols.Kademlia.Validation;

namespace P2PStack.Interop.Discovery.Tests;

/// <summary>
/// The <c>/test</c> namespace, registered the same way in discovery-peer.mjs: key <c>/test/&lt;name&gt;</c>, value 1..1024
/// bytes of UTF-8; the best of several values is the lexicographically greatest (raw bytes).
/// </summary>
public sealed class TestRecordValidator : IRecordValidator
{
    public const string Namespace = "test";
    public const int MaxValueLength = 1024;
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public void Validate(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        var (ns, rest) = NamespacedValidator.SplitKey(key);
        if (ns != Namespace || rest.Length == 0) throw new InvalidRecordException("a /test key needs a name after /test/");
        if (value.Length is 0 or > MaxValueLength) throw new InvalidRecordException($"a /test value must be 1..{MaxValueLength} bytes");
        try { StrictUtf8.GetCharCount(value); }
        catch (DecoderFallbackException e) { throw new InvalidRecordException("a /test value must be UTF-8", e); }
    }

    public int Select(ReadOnlySpan<byte> key, IReadOnlyList<ReadOnlyMemory<byte>> values)
    {
        int best = 0;
        for (int i = 1; i < values.Count; i++)
            if (values[i].Span.SequenceCompareTo(values[best].Span) > 0) best = i;
        return best;
    }
}
