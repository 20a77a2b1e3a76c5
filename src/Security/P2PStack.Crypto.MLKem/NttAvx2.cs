using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace P2PStack.Crypto.MLKem;

/// <summary>
/// AVX2 NTT with the same butterflies, in the same order of arithmetic, as <see cref="NttScalar"/>. Layers with
/// len >= 16 pair whole vectors; layers 8, 4, 2 pair each lane with its partner lane (index xor len) inside a vector,
/// using per-lane zetas and a sign vector so that one formula serves both lanes of a pair.
/// </summary>
internal static class NttAvx2
{
    private sealed class Tables
    {
        // Per layer (len 8, 4, 2 -> 0, 1, 2), per vector (16): zeta per lane and zeta * qinv.
        public readonly Vector256<short>[] ForwardZ = new Vector256<short>[48];
        public readonly Vector256<short>[] ForwardZq = new Vector256<short>[48];
        public readonly Vector256<short>[] InverseZ = new Vector256<short>[48];
        public readonly Vector256<short>[] InverseZq = new Vector256<short>[48];
        public readonly Vector256<short>[] UpperMask = new Vector256<short>[3];
        public readonly Vector256<short>[] Sign = new Vector256<short>[3];

        public Tables()
        {
            short[] zetas = Zetas.Table;
            Span<short> z = stackalloc short[16], zi = stackalloc short[16], mask = stackalloc short[16], sign = stackalloc short[16];
            for (int layer = 0; layer < 3; layer++)
            {
                int len = 8 >> layer;
                for (int v = 0; v < 16; v++)
                {
                    for (int lane = 0; lane < 16; lane++)
                    {
                        int j = 16 * v + lane;
                        int block = j / (2 * len);
                        bool upper = (j & len) != 0;
                        short fz = zetas[128 / len + block];
                        z[lane] = fz;
                        zi[lane] = zetas[256 / len - 1 - block];
                        mask[lane] = upper ? (short)-1 : (short)0;
                        sign[lane] = upper ? (short)-1 : (short)1;
                    }
                    ForwardZ[16 * layer + v] = Vector256.Create<short>(z);
                    ForwardZq[16 * layer + v] = VecFq.QInvOf(ForwardZ[16 * layer + v]);
                    InverseZ[16 * layer + v] = Vector256.Create<short>(zi);
                    InverseZq[16 * layer + v] = VecFq.QInvOf(InverseZ[16 * layer + v]);
                    UpperMask[layer] = Vector256.Create<short>(mask);
                    Sign[layer] = Vector256.Create<short>(sign);
                }
            }
        }
    }

    private static readonly Tables s_tables = new();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<short> Partner(Vector256<short> a, int layer) => layer switch
    {
        0 => Avx2.Permute4x64(a.AsUInt64(), 0x4E).AsInt16(),        // swap 128-bit halves (len 8)
        1 => Avx2.Shuffle(a.AsInt32(), 0x4E).AsInt16(),             // swap 64-bit halves of each 128 (len 4)
        _ => Avx2.Shuffle(a.AsInt32(), 0xB1).AsInt16(),             // swap 32-bit pairs (len 2)
    };

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Forward(Span<short> poly)
    {
        Span<Vector256<short>> r = MemoryMarshal.Cast<short, Vector256<short>>(poly[..Poly.N]);
        short[] zetas = Zetas.Table;
        int k = 1;
        for (int len = 128; len >= 16; len >>= 1)
        {
            int step = len / 16;
            for (int start = 0; start < 16; start += 2 * step)
            {
                Vector256<short> z = Vector256.Create(zetas[k++]);
                Vector256<short> zq = VecFq.QInvOf(z);
                for (int j = start; j < start + step; j++)
                {
                    Vector256<short> t = VecFq.MulPre(r[j + step], z, zq);
                    r[j + step] = Avx2.Subtract(r[j], t);
                    r[j] = Avx2.Add(r[j], t);
                }
            }
        }
        Tables tables = s_tables;
        for (int layer = 0; layer < 3; layer++)
        {
            Vector256<short> upper = tables.UpperMask[layer], sign = tables.Sign[layer];
            for (int v = 0; v < 16; v++)
            {
                Vector256<short> self = r[v], partner = Partner(self, layer);
                Vector256<short> lo = Avx2.BlendVariable(self.AsByte(), partner.AsByte(), upper.AsByte()).AsInt16();
                Vector256<short> hi = Avx2.BlendVariable(partner.AsByte(), self.AsByte(), upper.AsByte()).AsInt16();
                Vector256<short> t = VecFq.MulPre(hi, tables.ForwardZ[16 * layer + v], tables.ForwardZq[16 * layer + v]);
                r[v] = Avx2.Add(lo, Avx2.Sign(t, sign));
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void InverseToMont(Span<short> poly)
    {
        Span<Vector256<short>> r = MemoryMarshal.Cast<short, Vector256<short>>(poly[..Poly.N]);
        Tables tables = s_tables;
        for (int layer = 2; layer >= 0; layer--)
        {
            Vector256<short> upper = tables.UpperMask[layer];
            for (int v = 0; v < 16; v++)
            {
                Vector256<short> self = r[v], partner = Partner(self, layer);
                Vector256<short> sum = VecFq.Barrett(Avx2.Add(self, partner));
                Vector256<short> diff = VecFq.MulPre(Avx2.Subtract(self, partner), tables.InverseZ[16 * layer + v], tables.InverseZq[16 * layer + v]);
                r[v] = Avx2.BlendVariable(sum.AsByte(), diff.AsByte(), upper.AsByte()).AsInt16();
            }
        }
        short[] zetas = Zetas.Table;
        int k = 15;
        for (int len = 16; len <= 128; len <<= 1)
        {
            int step = len / 16;
            for (int start = 0; start < 16; start += 2 * step)
            {
                Vector256<short> z = Vector256.Create(zetas[k--]);
                Vector256<short> zq = VecFq.QInvOf(z);
                for (int j = start; j < start + step; j++)
                {
                    Vector256<short> t = r[j];
                    r[j] = VecFq.Barrett(Avx2.Add(t, r[j + step]));
                    r[j + step] = VecFq.MulPre(Avx2.Subtract(r[j + step], t), z, zq);
                }
            }
        }
        Vector256<short> f = Vector256.Create((short)1441), fq = VecFq.QInvOf(f);
        for (int v = 0; v < 16; v++) r[v] = VecFq.MulPre(r[v], f, fq);
    }
}
