namespace P2PStack.Crypto.MLKem;

/// <summary>
/// Arithmetic on polynomials of 256 coefficients held as 16-bit integers. Each operation picks the AVX2 path when
/// <see cref="SimdSwitch.UseAvx2"/> is on; both paths give identical results.
/// </summary>
internal static class Poly
{
    public const int N = 256;

    public static void Ntt(Span<short> r)
    {
        if (SimdSwitch.UseAvx2) NttAvx2.Forward(r);
        else NttScalar.Forward(r);
        Reduce(r);
    }

    public static void InverseNttToMont(Span<short> r)
    {
        if (SimdSwitch.UseAvx2) NttAvx2.InverseToMont(r);
        else NttScalar.InverseToMont(r);
    }

    /// <summary>Barrett-reduces every coefficient to [-(q-1)/2, (q-1)/2].</summary>
    public static void Reduce(Span<short> r)
    {
        if (SimdSwitch.UseAvx2) { PolyAvx2.Reduce(r); return; }
        for (int i = 0; i < N; i++) r[i] = Fq.Barrett(r[i]);
    }

    /// <summary>Multiplies every coefficient by 2^16 (mod q).</summary>
    public static void ToMont(Span<short> r)
    {
        if (SimdSwitch.UseAvx2) { PolyAvx2.ToMont(r); return; }
        for (int i = 0; i < N; i++) r[i] = Fq.Mul(r[i], Fq.MontSquared);
    }

    /// <summary>r += a, without reduction.</summary>
    public static void Add(Span<short> r, ReadOnlySpan<short> a)
    {
        if (SimdSwitch.UseAvx2) { PolyAvx2.Add(r, a); return; }
        for (int i = 0; i < N; i++) r[i] = (short)(r[i] + a[i]);
    }

    /// <summary>r = a - r, without reduction.</summary>
    public static void SubtractFrom(ReadOnlySpan<short> a, Span<short> r)
    {
        if (SimdSwitch.UseAvx2) { PolyAvx2.SubtractFrom(a, r); return; }
        for (int i = 0; i < N; i++) r[i] = (short)(a[i] - r[i]);
    }

    /// <summary>
    /// r = sum over i &lt; k of a_i * b_i in the NTT domain (FIPS 203 Algorithms 11 and 12), times 2^-16, reduced.
    /// <paramref name="a"/> is either row <paramref name="row"/> of the k x k matrix (or of its transpose), or a
    /// plain vector when <paramref name="row"/> is -1.
    /// </summary>
    public static void BaseMulAccumulate(Span<short> r, ReadOnlySpan<short> a, int row, bool transposed, ReadOnlySpan<short> b, int k)
    {
        Span<short> term = stackalloc short[N];
        for (int i = 0; i < k; i++)
        {
            int index = row < 0 ? i : transposed ? i * k + row : row * k + i;
            ReadOnlySpan<short> ai = a.Slice(index * N, N);
            ReadOnlySpan<short> bi = b.Slice(i * N, N);
            if (i == 0) BaseMul(r, ai, bi);
            else
            {
                BaseMul(term, ai, bi);
                Add(r, term);
            }
        }
        term.Clear(); // products with secret vectors
        Reduce(r);
    }

    /// <summary>r = a * b in the NTT domain, times 2^-16, coefficients in (-2q, 2q).</summary>
    public static void BaseMul(Span<short> r, ReadOnlySpan<short> a, ReadOnlySpan<short> b)
    {
        if (SimdSwitch.UseAvx2) { PolyAvx2.BaseMul(r, a, b); return; }
        short[] zetas = Zetas.Table;
        for (int i = 0; i < N / 4; i++)
        {
            short zeta = zetas[64 + i];
            BaseCaseMultiply(r.Slice(4 * i, 2), a.Slice(4 * i, 2), b.Slice(4 * i, 2), zeta);
            BaseCaseMultiply(r.Slice(4 * i + 2, 2), a.Slice(4 * i + 2, 2), b.Slice(4 * i + 2, 2), (short)-zeta);
        }
    }

    private static void BaseCaseMultiply(Span<short> r, ReadOnlySpan<short> a, ReadOnlySpan<short> b, short zeta)
    {
        short r0 = Fq.Mul(Fq.Mul(a[1], b[1]), zeta);
        r0 = (short)(r0 + Fq.Mul(a[0], b[0]));
        short r1 = Fq.Mul(a[0], b[1]);
        r1 = (short)(r1 + Fq.Mul(a[1], b[0]));
        r[0] = r0;
        r[1] = r1;
    }
}
