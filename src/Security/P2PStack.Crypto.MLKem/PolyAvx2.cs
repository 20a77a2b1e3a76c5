using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace P2PStack.Crypto.MLKem;

/// <summary>AVX2 forms of the <see cref="Poly"/> operations, bit-identical to the scalar ones.</summary>
internal static class PolyAvx2
{
    private static readonly Vector256<short>[] s_baseMulZ = new Vector256<short>[16];
    private static readonly Vector256<short>[] s_baseMulZq = new Vector256<short>[16];

    static PolyAvx2()
    {
        Span<short> z = stackalloc short[16];
        for (int c = 0; c < 16; c++)
        {
            z.Clear();
            for (int p = 0; p < 8; p++)
            {
                short zeta = Zetas.Table[64 + 4 * c + p / 2];
                z[2 * p] = (p & 1) == 0 ? zeta : (short)-zeta;
            }
            s_baseMulZ[c] = Vector256.Create<short>(z);
            s_baseMulZq[c] = VecFq.QInvOf(s_baseMulZ[c]);
        }
    }

    private static Span<Vector256<short>> V(Span<short> poly) => MemoryMarshal.Cast<short, Vector256<short>>(poly[..Poly.N]);

    private static ReadOnlySpan<Vector256<short>> V(ReadOnlySpan<short> poly) =>
        MemoryMarshal.Cast<short, Vector256<short>>(poly[..Poly.N]);

    public static void Reduce(Span<short> poly)
    {
        Span<Vector256<short>> r = V(poly);
        for (int i = 0; i < r.Length; i++) r[i] = VecFq.Barrett(r[i]);
    }

    public static void ToMont(Span<short> poly)
    {
        Span<Vector256<short>> r = V(poly);
        Vector256<short> f = Vector256.Create(Fq.MontSquared), fq = VecFq.QInvOf(f);
        for (int i = 0; i < r.Length; i++) r[i] = VecFq.MulPre(r[i], f, fq);
    }

    public static void Add(Span<short> poly, ReadOnlySpan<short> other)
    {
        Span<Vector256<short>> r = V(poly);
        ReadOnlySpan<Vector256<short>> a = V(other);
        for (int i = 0; i < r.Length; i++) r[i] = Avx2.Add(r[i], a[i]);
    }

    public static void SubtractFrom(ReadOnlySpan<short> minuend, Span<short> poly)
    {
        Span<Vector256<short>> r = V(poly);
        ReadOnlySpan<Vector256<short>> a = V(minuend);
        for (int i = 0; i < r.Length; i++) r[i] = Avx2.Subtract(a[i], r[i]);
    }

    /// <summary>Swaps the two 16-bit halves of each 32-bit lane: (x0, x1) -> (x1, x0).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> SwapPairs(Vector256<short> x)
    {
        Vector256<uint> u = x.AsUInt32();
        return Avx2.Or(Avx2.ShiftLeftLogical(u, 16), Avx2.ShiftRightLogical(u, 16)).AsInt16();
    }

    /// <summary>
    /// Even lanes: fqmul(fqmul(a1, b1), +-zeta) + fqmul(a0, b0); odd lanes: fqmul(a0, b1) + fqmul(a1, b0).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void BaseMul(Span<short> result, ReadOnlySpan<short> a, ReadOnlySpan<short> b)
    {
        Span<Vector256<short>> r = V(result);
        ReadOnlySpan<Vector256<short>> va = V(a), vb = V(b);
        for (int c = 0; c < 16; c++)
        {
            Vector256<short> x = va[c], y = vb[c];
            Vector256<short> xs = SwapPairs(x), ys = SwapPairs(y);
            Vector256<short> even = Avx2.Add(VecFq.MulPre(VecFq.Mul(xs, ys), s_baseMulZ[c], s_baseMulZq[c]), VecFq.Mul(x, y));
            // Odd lane: x = a1, ys = b0, xs = a0, y = b1  ->  fqmul(a0, b1) + fqmul(a1, b0).
            Vector256<short> odd = Avx2.Add(VecFq.Mul(xs, y), VecFq.Mul(x, ys));
            r[c] = Avx2.Blend(even, odd, 0xAA);
        }
    }
}
