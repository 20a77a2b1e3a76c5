using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Security.Cryptography;

namespace P2PStack.Privacy.Onion.Crypto;

/// <summary>
/// One hop's layer in one direction: a tweakable wide-block transform of a relay cell body (T: 16 bytes, R: the
/// rest), in the shape of UIV+ from Counter Galois Onion (Tor proposal 359), with the cell counter as tweak:
/// <code>
///   Encrypt:  h = POLYVAL_J(R, n);  T' = AES_K(T ^ h) ^ h;  R' = R ^ AES-CTR_C(T');  n += 1
///   Decrypt:  R = R' ^ AES-CTR_C(T');  h = POLYVAL_J(R, n);  T = AES_K^-1(T' ^ h) ^ h;  n += 1
/// </code>
/// Relays only ever encrypt (in both directions) and clients only decrypt, so the transform a relay applies is the
/// non-malleable one: any change to its input makes its whole output unpredictable. A cell is meant for the hop whose
/// transform leaves T all zero (2^-128 by chance); a cell changed on the way, replayed or reordered (the counter is in
/// the hash) reaches no hop with T = 0 and ends the circuit, and the hops after the change see only noise, so a
/// malicious hop cannot tag a cell for a colluding one further on.
/// Not thread-safe: the circuit serialises the cells of a direction (the order is the counter).
/// </summary>
internal sealed class LayerCipher : IDisposable
{
    /// <summary>Key material of one layer: AES-256 block key, AES-256 counter-mode key, POLYVAL key.</summary>
    public const int KeyMaterialSize = Aes256.KeySize + Aes256.KeySize + Polyval.KeySize;

    public const int TagSize = 16;

    private readonly Aes256 _block;
    private readonly Aes256 _stream;
    private readonly Polyval _hash;

    /// <param name="keys"><see cref="KeyMaterialSize"/> bytes: K || C || J.</param>
    /// <param name="decrypting">A client's layer (decrypts); a relay's encrypts.</param>
    /// <param name="forcePortable">Without AES-NI and PCLMULQDQ (tests compare both paths).</param>
    public LayerCipher(ReadOnlySpan<byte> keys, bool decrypting, bool forcePortable = false)
    {
        if (keys.Length != KeyMaterialSize) throw new ArgumentException($"layer keys are {KeyMaterialSize} bytes", nameof(keys));
        _block = new Aes256(keys[..32], decryption: decrypting, forcePortable);
        _stream = new Aes256(keys[32..64], decryption: false, forcePortable);
        _hash = new Polyval(keys[64..80], forcePortable);
        IsDecrypting = decrypting;
    }

    public bool IsDecrypting { get; }

    /// <summary>Cells transformed so far (the tweak of the next one).</summary>
    public ulong Counter { get; private set; }

    /// <summary>The relay's transform; returns true when the result is meant for this hop (T is all zero).</summary>
    public bool Encrypt(Span<byte> body)
    {
        var rest = body[TagSize..];
        var h = _hash.Hash(rest, Counter++);
        var tag = _block.EncryptBlock(Load(body) ^ h) ^ h;
        Store(body, tag);
        _stream.XorKeystream(tag, rest);
        return tag == Vector128<byte>.Zero;
    }

    /// <summary>The client's transform; returns true when the result is meant for the client at this layer.</summary>
    public bool Decrypt(Span<byte> body)
    {
        var rest = body[TagSize..];
        var sealedTag = Load(body);
        _stream.XorKeystream(sealedTag, rest);
        var h = _hash.Hash(rest, Counter++);
        var tag = _block.DecryptBlock(sealedTag ^ h) ^ h;
        Store(body, tag);
        return tag == Vector128<byte>.Zero;
    }

    /// <summary>
    /// The client's transform of two cells in a row (counters n and n + 1): the same result as
    /// <see cref="Decrypt(Span{byte})"/> on <paramref name="first"/> then on <paramref name="second"/>. The two cells are
    /// independent but for their counters, so their hashes and tag blocks (each a chain of dependent steps whose latency,
    /// not throughput, sets its time) run side by side.
    /// </summary>
    public void Decrypt(Span<byte> first, Span<byte> second)
    {
        if (first.Length != second.Length) throw new ArgumentException("both cells have one body size", nameof(second));
        var restA = first[TagSize..];
        var restB = second[TagSize..];
        var sealedA = Load(first);
        var sealedB = Load(second);
        _stream.XorKeystream(sealedA, restA);
        _stream.XorKeystream(sealedB, restB);
        ulong counter = Counter;
        var hA = _hash.Hash(restA, counter);
        var hB = _hash.Hash(restB, counter + 1);
        Counter = counter + 2;
        var (tagA, tagB) = _block.DecryptBlocks(sealedA ^ hA, sealedB ^ hB);
        Store(first, tagA ^ hA);
        Store(second, tagB ^ hB);
    }

    /// <summary>Whether the body's tag is all zero: the cell is for the hop that just transformed it.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsRecognised(ReadOnlySpan<byte> body) => Load(body[..TagSize]) == Vector128<byte>.Zero;

    public void Dispose()
    {
        _block.Dispose();
        _stream.Dispose();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<byte> Load(ReadOnlySpan<byte> bytes) => Vector128.Create(bytes[..TagSize]);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(Span<byte> bytes, Vector128<byte> value) => value.CopyTo(bytes);

    /// <summary>Zeroes key material held in a temporary buffer.</summary>
    public static void Erase(Span<byte> keys) => CryptographicOperations.ZeroMemory(keys);
}
