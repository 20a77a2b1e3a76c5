using System.Buffers.Binary;
using System.Security.Cryptography;

namespace P2PStack.Privacy.Onion.Relay;

/// <summary>
/// The introductions an introduction point forwarded (docs/specs/shadow.md, section 7.3): each INTRODUCE's auth key and
/// client nonce, remembered as a 128-bit digest, so the same INTRODUCE sent again is refused. Bounded: the oldest
/// entry is forgotten when <see cref="OnionRelayOptions.IntroductionReplayCacheSize"/> are held. Not thread-safe (the
/// registry's lock guards it).
/// </summary>
internal sealed class IntroductionReplayCache(int capacity)
{
    private readonly HashSet<UInt128> _seen = [];
    private readonly Queue<UInt128> _order = new();

    public int Count => _seen.Count;

    /// <summary>The identifier of an INTRODUCE message (auth key and nonce).</summary>
    public static UInt128 IdOf(ReadOnlySpan<byte> introduce)
    {
        Span<byte> digest = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(introduce, digest);
        return BinaryPrimitives.ReadUInt128LittleEndian(digest);
    }

    public bool Contains(UInt128 id) => _seen.Contains(id);

    /// <summary>Remembers <paramref name="id"/>, forgetting the oldest entry when full.</summary>
    public void Add(UInt128 id)
    {
        if (!_seen.Add(id)) return;
        _order.Enqueue(id);
        if (_order.Count > capacity) _seen.Remove(_order.Dequeue());
    }
}
