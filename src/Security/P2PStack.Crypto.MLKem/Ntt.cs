using System.Runtime.CompilerServices;

namespace P2PStack.Crypto.MLKem;

/// <summary>The number-theoretic transform (FIPS 203 Algorithms 9 and 10), scalar form.</summary>
internal static class NttScalar
{
    /// <summary>
    /// In-place forward NTT. Input coefficients of magnitude below q; output in bit-reversed order with magnitude
    /// below 8q (callers reduce).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Forward(Span<short> r)
    {
        short[] zetas = Zetas.Table;
        int k = 1;
        for (int len = 128; len >= 2; len >>= 1)
        {
            for (int start = 0; start < 256; start += 2 * len)
            {
                short zeta = zetas[k++];
                for (int j = start; j < start + len; j++)
                {
                    short t = Fq.Mul(zeta, r[j + len]);
                    r[j + len] = (short)(r[j] - t);
                    r[j] = (short)(r[j] + t);
                }
            }
        }
    }

    /// <summary>
    /// In-place inverse NTT, also multiplying by 2^16 so that it cancels the 2^-16 left by
    /// <see cref="Poly.BaseMulAccumulate"/>. Output magnitude below q.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void InverseToMont(Span<short> r)
    {
        const short f = 1441; // 2^32 / 128 mod q
        short[] zetas = Zetas.Table;
        int k = 127;
        for (int len = 2; len <= 128; len <<= 1)
        {
            for (int start = 0; start < 256; start += 2 * len)
            {
                short zeta = zetas[k--];
                for (int j = start; j < start + len; j++)
                {
                    short t = r[j];
                    r[j] = Fq.Barrett((short)(t + r[j + len]));
                    r[j + len] = Fq.Mul(zeta, (short)(r[j + len] - t));
                }
            }
        }
        for (int j = 0; j < 256; j++) r[j] = Fq.Mul(r[j], f);
    }
}
