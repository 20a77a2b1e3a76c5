using System.Security.Cryptography;

namespace P2PStack.Crypto.MLKem;

/// <summary>
/// The FIPS 203 internal algorithms (K-PKE and ML-KEM *_internal) on spans. The public key is kept expanded:
/// t-hat decoded and the matrix A-hat sampled once, so encapsulation and decapsulation skip the matrix expansion.
/// </summary>
internal static class MLKemCore
{
    private const int N = Poly.N;

    /// <summary>
    /// ML-KEM.KeyGen_internal(d, z): writes the decapsulation key (which embeds the encapsulation key) and the
    /// expanded forms of t-hat, A-hat and s-hat.
    /// </summary>
    public static void KeyGen(MLKemParameters p, ReadOnlySpan<byte> d, ReadOnlySpan<byte> z, Span<byte> dk,
        Span<short> matrix, Span<short> tHat, Span<short> sHat)
    {
        int k = p.K;
        Span<byte> rhoSigma = stackalloc byte[64];
        byte kByte = (byte)k;
        Hashing.G(d[..32], new ReadOnlySpan<byte>(in kByte), rhoSigma);
        ReadOnlySpan<byte> rho = rhoSigma[..32], sigma = rhoSigma[32..];

        Sampling.ExpandMatrix(rho, k, matrix);
        Span<short> noise = stackalloc short[2 * k * N];
        Sampling.NoiseVector(sigma, 0, p.Eta1, 2 * k, noise);
        Span<short> e = noise[(k * N)..];
        noise[..(k * N)].CopyTo(sHat);
        for (int i = 0; i < k; i++)
        {
            Poly.Ntt(sHat.Slice(i * N, N));
            Poly.Ntt(e.Slice(i * N, N));
        }
        for (int i = 0; i < k; i++)
        {
            Span<short> ti = tHat.Slice(i * N, N);
            Poly.BaseMulAccumulate(ti, matrix, i, transposed: false, sHat, k);
            Poly.ToMont(ti);
            Poly.Add(ti, e.Slice(i * N, N));
            Poly.Reduce(ti);
        }

        Span<byte> ek = dk.Slice(p.PolyVecBytes, p.EncapsulationKeyBytes);
        for (int i = 0; i < k; i++)
        {
            ByteCodec.EncodeCanonical12(tHat.Slice(i * N, N), ek.Slice(384 * i, 384));
            ByteCodec.EncodeCanonical12(sHat.Slice(i * N, N), dk.Slice(384 * i, 384));
            Canonicalize(tHat.Slice(i * N, N));
            Canonicalize(sHat.Slice(i * N, N));
        }
        rho.CopyTo(ek[p.PolyVecBytes..]);
        Span<byte> tail = dk[(p.PolyVecBytes + p.EncapsulationKeyBytes)..];
        Hashing.H(ek, tail[..32]);
        z[..32].CopyTo(tail[32..]);

        CryptographicOperations.ZeroMemory(rhoSigma);
        noise.Clear();
    }

    /// <summary>
    /// Decodes t-hat and samples A-hat from an encapsulation key. Returns false when the modulus check of FIPS 203
    /// Section 7.2 fails (some coefficient encoded as a value of q or more).
    /// </summary>
    public static bool TryExpandEncapsulationKey(MLKemParameters p, ReadOnlySpan<byte> ek, Span<short> tHat, Span<short> matrix)
    {
        bool ok = true;
        for (int i = 0; i < p.K; i++) ok &= ByteCodec.DecodeReduced12(ek.Slice(384 * i, 384), tHat.Slice(i * N, N));
        if (!ok) return false;
        Sampling.ExpandMatrix(ek.Slice(p.PolyVecBytes, 32), p.K, matrix);
        return true;
    }

    /// <summary>Decodes s-hat from the decapsulation key, reducing each ByteDecode12 value mod q.</summary>
    public static void DecodeSecretVector(MLKemParameters p, ReadOnlySpan<byte> dk, Span<short> sHat)
    {
        for (int i = 0; i < p.K; i++) ByteCodec.DecodeReduced12(dk.Slice(384 * i, 384), sHat.Slice(i * N, N));
    }

    /// <summary>K-PKE.Encrypt(ek, m, r) with the key already expanded.</summary>
    public static void Encrypt(MLKemParameters p, ReadOnlySpan<short> tHat, ReadOnlySpan<short> matrix,
        ReadOnlySpan<byte> m, ReadOnlySpan<byte> r, Span<byte> ciphertext)
    {
        int k = p.K;
        Span<short> y = stackalloc short[k * N];
        Span<short> e1 = stackalloc short[(k + 1) * N];
        Sampling.NoiseVector(r, 0, p.Eta1, k, y);
        Sampling.NoiseVector(r, (byte)k, p.Eta2, k + 1, e1);
        Span<short> e2 = e1.Slice(k * N, N);
        for (int i = 0; i < k; i++) Poly.Ntt(y.Slice(i * N, N));

        Span<short> u = stackalloc short[N];
        for (int i = 0; i < k; i++)
        {
            Poly.BaseMulAccumulate(u, matrix, i, transposed: true, y, k);
            Poly.InverseNttToMont(u);
            Poly.Add(u, e1.Slice(i * N, N));
            Poly.Reduce(u);
            Compression.CompressAndEncode(u, p.Du, ciphertext.Slice(32 * p.Du * i, 32 * p.Du));
        }

        Span<short> v = u;
        Span<short> mu = stackalloc short[N];
        Poly.BaseMulAccumulate(v, tHat, -1, transposed: false, y, k);
        Poly.InverseNttToMont(v);
        ByteCodec.FromMessage(m, mu);
        Poly.Add(v, e2);
        Poly.Add(v, mu);
        Poly.Reduce(v);
        Compression.CompressAndEncode(v, p.Dv, ciphertext.Slice(p.CompressedUBytes, 32 * p.Dv));

        y.Clear();
        e1.Clear();
        u.Clear();
        mu.Clear();
    }

    /// <summary>K-PKE.Decrypt(dk_PKE, c).</summary>
    public static void Decrypt(MLKemParameters p, ReadOnlySpan<short> sHat, ReadOnlySpan<byte> ciphertext, Span<byte> m)
    {
        int k = p.K;
        Span<short> u = stackalloc short[k * N];
        for (int i = 0; i < k; i++)
        {
            Span<short> ui = u.Slice(i * N, N);
            Compression.DecodeAndDecompress(ciphertext.Slice(32 * p.Du * i, 32 * p.Du), p.Du, ui);
            Poly.Ntt(ui);
        }
        Span<short> w = stackalloc short[N];
        Span<short> v = stackalloc short[N];
        Compression.DecodeAndDecompress(ciphertext.Slice(p.CompressedUBytes, 32 * p.Dv), p.Dv, v);
        Poly.BaseMulAccumulate(w, sHat, -1, transposed: false, u, k);
        Poly.InverseNttToMont(w);
        Poly.SubtractFrom(v, w);
        Poly.Reduce(w);
        ByteCodec.ToMessage(w, m);
        u.Clear();
        w.Clear();
        v.Clear();
    }

    /// <summary>ML-KEM.Encaps_internal(ek, m): (K, r) = G(m || H(ek)); c = K-PKE.Encrypt(ek, m, r).</summary>
    public static void Encapsulate(MLKemParameters p, ReadOnlySpan<short> tHat, ReadOnlySpan<short> matrix,
        ReadOnlySpan<byte> ekHash, ReadOnlySpan<byte> m, Span<byte> ciphertext, Span<byte> sharedSecret)
    {
        Span<byte> kr = stackalloc byte[64];
        Hashing.G(m[..32], ekHash[..32], kr);
        Encrypt(p, tHat, matrix, m, kr[32..], ciphertext);
        kr[..32].CopyTo(sharedSecret);
        CryptographicOperations.ZeroMemory(kr);
    }

    /// <summary>
    /// ML-KEM.Decaps_internal: decrypts, re-encrypts, and returns K' when the ciphertexts match or J(z || c)
    /// otherwise, choosing with a mask so that timing does not reveal which.
    /// </summary>
    public static void Decapsulate(MLKemParameters p, ReadOnlySpan<short> sHat, ReadOnlySpan<short> tHat,
        ReadOnlySpan<short> matrix, ReadOnlySpan<byte> ekHash, ReadOnlySpan<byte> z, ReadOnlySpan<byte> ciphertext,
        Span<byte> sharedSecret)
    {
        Span<byte> mPrime = stackalloc byte[32];
        Span<byte> kr = stackalloc byte[64];
        Span<byte> kBar = stackalloc byte[32];
        Span<byte> reencrypted = stackalloc byte[p.CiphertextBytes];

        Decrypt(p, sHat, ciphertext, mPrime);
        Hashing.G(mPrime, ekHash[..32], kr);
        Hashing.J(z[..32], ciphertext, kBar);
        Encrypt(p, tHat, matrix, mPrime, kr[32..], reencrypted);

        byte equal = ConstantTime.EqualMask(ciphertext, reencrypted);
        ConstantTime.Select(equal, kr[..32], kBar, sharedSecret[..32]);

        CryptographicOperations.ZeroMemory(mPrime);
        CryptographicOperations.ZeroMemory(kr);
        CryptographicOperations.ZeroMemory(kBar);
        CryptographicOperations.ZeroMemory(reencrypted);
    }

    private static void Canonicalize(Span<short> poly)
    {
        for (int i = 0; i < poly.Length; i++) poly[i] = Fq.Canonical(poly[i]);
    }
}
