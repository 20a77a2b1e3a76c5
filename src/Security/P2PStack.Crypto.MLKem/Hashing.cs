namespace P2PStack.Crypto.MLKem;

/// <summary>The FIPS 203 hash functions H, G, J and PRF, plus SHA3-256 / SHAKE256 for X-Wing.</summary>
internal static class Hashing
{
    /// <summary>SHA3-256 of the concatenation of up to three inputs.</summary>
    public static void Sha3_256(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, ReadOnlySpan<byte> c, Span<byte> output32)
    {
        var sponge = new KeccakSponge(KeccakSponge.Sha3_256Rate);
        sponge.Absorb(a);
        sponge.Absorb(b);
        sponge.Absorb(c);
        sponge.Pad(KeccakSponge.Sha3Domain);
        sponge.Squeeze(output32[..32]);
        sponge.Clear();
    }

    /// <summary>H(s) = SHA3-256(s).</summary>
    public static void H(ReadOnlySpan<byte> input, Span<byte> output32) => Sha3_256(input, default, default, output32);

    /// <summary>G(a || b) = SHA3-512, returned as its two 32-byte halves in one 64-byte span.</summary>
    public static void G(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, Span<byte> output64)
    {
        var sponge = new KeccakSponge(KeccakSponge.Sha3_512Rate);
        sponge.Absorb(a);
        sponge.Absorb(b);
        sponge.Pad(KeccakSponge.Sha3Domain);
        sponge.Squeeze(output64[..64]);
        sponge.Clear();
    }

    /// <summary>SHAKE256 of the concatenation of up to three inputs.</summary>
    public static void Shake256(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, ReadOnlySpan<byte> c, Span<byte> output)
    {
        var sponge = new KeccakSponge(KeccakSponge.Shake256Rate);
        sponge.Absorb(a);
        sponge.Absorb(b);
        sponge.Absorb(c);
        sponge.Pad(KeccakSponge.ShakeDomain);
        sponge.Squeeze(output);
        sponge.Clear();
    }

    /// <summary>J(z || c) = SHAKE256(z || c, 32), the implicit-rejection key.</summary>
    public static void J(ReadOnlySpan<byte> z, ReadOnlySpan<byte> ciphertext, Span<byte> output32) =>
        Shake256(z, ciphertext, default, output32[..32]);

    /// <summary>PRF_eta(s, N) = SHAKE256(s || N, 64 * eta).</summary>
    public static void Prf(ReadOnlySpan<byte> seed32, byte nonce, Span<byte> output) =>
        Shake256(seed32, new ReadOnlySpan<byte>(in nonce), default, output);
}
