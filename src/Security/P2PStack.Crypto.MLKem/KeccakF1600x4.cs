using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace P2PStack.Crypto.MLKem;

/// <summary>
/// Four independent Keccak-f[1600] permutations at once: lane i of state j is element j of vector i.
/// Used to expand the ML-KEM matrix and sample noise four polynomials at a time.
/// </summary>
internal static class KeccakF1600x4
{
    public static bool IsHardwareAccelerated => Vector256.IsHardwareAccelerated;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<ulong> Rol(Vector256<ulong> v, [System.Diagnostics.CodeAnalysis.ConstantExpected] byte n)
    {
        if (Avx512F.VL.IsSupported) return Avx512F.VL.RotateLeft(v, n);
        return Vector256.ShiftLeft(v, n) | Vector256.ShiftRightLogical(v, 64 - n);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Permute(Span<Vector256<ulong>> s)
    {
        if (s.Length < 25) throw new ArgumentException("Keccak state needs 25 lanes.", nameof(s));
        Vector256<ulong> a0 = s[0];
        Vector256<ulong> a1 = s[1];
        Vector256<ulong> a2 = s[2];
        Vector256<ulong> a3 = s[3];
        Vector256<ulong> a4 = s[4];
        Vector256<ulong> a5 = s[5];
        Vector256<ulong> a6 = s[6];
        Vector256<ulong> a7 = s[7];
        Vector256<ulong> a8 = s[8];
        Vector256<ulong> a9 = s[9];
        Vector256<ulong> a10 = s[10];
        Vector256<ulong> a11 = s[11];
        Vector256<ulong> a12 = s[12];
        Vector256<ulong> a13 = s[13];
        Vector256<ulong> a14 = s[14];
        Vector256<ulong> a15 = s[15];
        Vector256<ulong> a16 = s[16];
        Vector256<ulong> a17 = s[17];
        Vector256<ulong> a18 = s[18];
        Vector256<ulong> a19 = s[19];
        Vector256<ulong> a20 = s[20];
        Vector256<ulong> a21 = s[21];
        Vector256<ulong> a22 = s[22];
        Vector256<ulong> a23 = s[23];
        Vector256<ulong> a24 = s[24];
        ReadOnlySpan<ulong> rcs = KeccakF1600.RoundConstants;
        for (int round = 0; round < 24; round++)
        {
            Vector256<ulong> c0 = a0 ^ a5 ^ a10 ^ a15 ^ a20, c1 = a1 ^ a6 ^ a11 ^ a16 ^ a21, c2 = a2 ^ a7 ^ a12 ^ a17 ^ a22, c3 = a3 ^ a8 ^ a13 ^ a18 ^ a23, c4 = a4 ^ a9 ^ a14 ^ a19 ^ a24;
            Vector256<ulong> d0 = c4 ^ Rol(c1, 1);
            Vector256<ulong> d1 = c0 ^ Rol(c2, 1);
            Vector256<ulong> d2 = c1 ^ Rol(c3, 1);
            Vector256<ulong> d3 = c2 ^ Rol(c4, 1);
            Vector256<ulong> d4 = c3 ^ Rol(c0, 1);
            Vector256<ulong> b0 = (a0 ^ d0);
            Vector256<ulong> b1 = Rol((a6 ^ d1), 44);
            Vector256<ulong> b2 = Rol((a12 ^ d2), 43);
            Vector256<ulong> b3 = Rol((a18 ^ d3), 21);
            Vector256<ulong> b4 = Rol((a24 ^ d4), 14);
            Vector256<ulong> b5 = Rol((a3 ^ d3), 28);
            Vector256<ulong> b6 = Rol((a9 ^ d4), 20);
            Vector256<ulong> b7 = Rol((a10 ^ d0), 3);
            Vector256<ulong> b8 = Rol((a16 ^ d1), 45);
            Vector256<ulong> b9 = Rol((a22 ^ d2), 61);
            Vector256<ulong> b10 = Rol((a1 ^ d1), 1);
            Vector256<ulong> b11 = Rol((a7 ^ d2), 6);
            Vector256<ulong> b12 = Rol((a13 ^ d3), 25);
            Vector256<ulong> b13 = Rol((a19 ^ d4), 8);
            Vector256<ulong> b14 = Rol((a20 ^ d0), 18);
            Vector256<ulong> b15 = Rol((a4 ^ d4), 27);
            Vector256<ulong> b16 = Rol((a5 ^ d0), 36);
            Vector256<ulong> b17 = Rol((a11 ^ d1), 10);
            Vector256<ulong> b18 = Rol((a17 ^ d2), 15);
            Vector256<ulong> b19 = Rol((a23 ^ d3), 56);
            Vector256<ulong> b20 = Rol((a2 ^ d2), 62);
            Vector256<ulong> b21 = Rol((a8 ^ d3), 55);
            Vector256<ulong> b22 = Rol((a14 ^ d4), 39);
            Vector256<ulong> b23 = Rol((a15 ^ d0), 41);
            Vector256<ulong> b24 = Rol((a21 ^ d1), 2);
            a0 = b0 ^ Vector256.AndNot(b2, b1);
            a1 = b1 ^ Vector256.AndNot(b3, b2);
            a2 = b2 ^ Vector256.AndNot(b4, b3);
            a3 = b3 ^ Vector256.AndNot(b0, b4);
            a4 = b4 ^ Vector256.AndNot(b1, b0);
            a5 = b5 ^ Vector256.AndNot(b7, b6);
            a6 = b6 ^ Vector256.AndNot(b8, b7);
            a7 = b7 ^ Vector256.AndNot(b9, b8);
            a8 = b8 ^ Vector256.AndNot(b5, b9);
            a9 = b9 ^ Vector256.AndNot(b6, b5);
            a10 = b10 ^ Vector256.AndNot(b12, b11);
            a11 = b11 ^ Vector256.AndNot(b13, b12);
            a12 = b12 ^ Vector256.AndNot(b14, b13);
            a13 = b13 ^ Vector256.AndNot(b10, b14);
            a14 = b14 ^ Vector256.AndNot(b11, b10);
            a15 = b15 ^ Vector256.AndNot(b17, b16);
            a16 = b16 ^ Vector256.AndNot(b18, b17);
            a17 = b17 ^ Vector256.AndNot(b19, b18);
            a18 = b18 ^ Vector256.AndNot(b15, b19);
            a19 = b19 ^ Vector256.AndNot(b16, b15);
            a20 = b20 ^ Vector256.AndNot(b22, b21);
            a21 = b21 ^ Vector256.AndNot(b23, b22);
            a22 = b22 ^ Vector256.AndNot(b24, b23);
            a23 = b23 ^ Vector256.AndNot(b20, b24);
            a24 = b24 ^ Vector256.AndNot(b21, b20);
            a0 ^= Vector256.Create(rcs[round]);
        }
        s[0] = a0;
        s[1] = a1;
        s[2] = a2;
        s[3] = a3;
        s[4] = a4;
        s[5] = a5;
        s[6] = a6;
        s[7] = a7;
        s[8] = a8;
        s[9] = a9;
        s[10] = a10;
        s[11] = a11;
        s[12] = a12;
        s[13] = a13;
        s[14] = a14;
        s[15] = a15;
        s[16] = a16;
        s[17] = a17;
        s[18] = a18;
        s[19] = a19;
        s[20] = a20;
        s[21] = a21;
        s[22] = a22;
        s[23] = a23;
        s[24] = a24;
    }
}
