using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace P2PStack.Crypto.MLKem;

/// <summary>
/// AVX2 versions of the <see cref="Fq"/> reductions on 16 coefficients. Each gives bit-identical results to the
/// scalar formula (mulhi/mullo split of the same 32-bit products).
/// </summary>
internal static class VecFq
{
    public static readonly Vector256<short> Q = Vector256.Create(Fq.Q);
    public static readonly Vector256<short> QInv = Vector256.Create(Fq.QInv);
    private static readonly Vector256<short> s_barrettV = Vector256.Create((short)Fq.BarrettV);
    private static readonly Vector256<short> s_512 = Vector256.Create((short)512);

    /// <summary>Montgomery product a * b * 2^-16 where bQInv = b * q^-1 mod 2^16 is precomputed.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<short> MulPre(Vector256<short> a, Vector256<short> b, Vector256<short> bQInv)
    {
        Vector256<short> t = Avx2.MultiplyLow(a, bQInv);
        Vector256<short> hi = Avx2.MultiplyHigh(a, b);
        return Avx2.Subtract(hi, Avx2.MultiplyHigh(t, Q));
    }

    /// <summary>Montgomery product a * b * 2^-16 of two variable vectors.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<short> Mul(Vector256<short> a, Vector256<short> b)
    {
        Vector256<short> t = Avx2.MultiplyLow(Avx2.MultiplyLow(a, b), QInv);
        Vector256<short> hi = Avx2.MultiplyHigh(a, b);
        return Avx2.Subtract(hi, Avx2.MultiplyHigh(t, Q));
    }

    /// <summary>Barrett reduction: floor((a * v + 2^25) / 2^26) computed as ((a * v) >> 16 + 512) >> 10.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<short> Barrett(Vector256<short> a)
    {
        Vector256<short> t = Avx2.MultiplyHigh(a, s_barrettV);
        t = Avx2.ShiftRightArithmetic(Avx2.Add(t, s_512), 10);
        return Avx2.Subtract(a, Avx2.MultiplyLow(t, Q));
    }

    public static Vector256<short> QInvOf(Vector256<short> b) => Avx2.MultiplyLow(b, QInv);
}
