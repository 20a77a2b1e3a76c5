// Generated layout: the 25 lanes live in locals so the JIT keeps them in registers where it can.
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace P2PStack.Crypto.MLKem;

/// <summary>The Keccak-f[1600] permutation (FIPS 202) on one state of 25 little-endian lanes.</summary>
internal static class KeccakF1600
{
    internal static ReadOnlySpan<ulong> RoundConstants =>
    [
        0x0000000000000001UL, 0x0000000000008082UL, 0x800000000000808AUL, 0x8000000080008000UL,
        0x000000000000808BUL, 0x0000000080000001UL, 0x8000000080008081UL, 0x8000000000008009UL,
        0x000000000000008AUL, 0x0000000000000088UL, 0x0000000080008009UL, 0x000000008000000AUL,
        0x000000008000808BUL, 0x800000000000008BUL, 0x8000000000008089UL, 0x8000000000008003UL,
        0x8000000000008002UL, 0x8000000000000080UL, 0x000000000000800AUL, 0x800000008000000AUL,
        0x8000000080008081UL, 0x8000000000008080UL, 0x0000000080000001UL, 0x8000000080008008UL,
    ];

    /// <summary>
    /// With AVX-512VL (one-instruction 64-bit rotates) the vector permutation of <see cref="KeccakF1600x4"/> on one
    /// instance takes about 0.22 us against 0.39 us for the scalar code below (the JIT spills its 25 + 25 lanes), so
    /// single-state hashing (H, G, J) runs there.
    /// </summary>
    private static bool UseVector => SimdSwitch.UseAvx2 && Avx512F.VL.IsSupported;

    public static void Permute(Span<ulong> s)
    {
        if (s.Length < 25) throw new ArgumentException("Keccak state needs 25 lanes.", nameof(s));
        if (UseVector) PermuteOnVectors(s);
        else PermuteScalar(s);
    }

    private static void PermuteOnVectors(Span<ulong> s)
    {
        Span<Vector256<ulong>> v = stackalloc Vector256<ulong>[25];
        for (int i = 0; i < 25; i++) v[i] = Vector256.CreateScalarUnsafe(s[i]);
        KeccakF1600x4.Permute(v);
        for (int i = 0; i < 25; i++) s[i] = v[i].ToScalar();
        v.Clear();
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PermuteScalar(Span<ulong> s)
    {
        ulong a0 = s[0];
        ulong a1 = s[1];
        ulong a2 = s[2];
        ulong a3 = s[3];
        ulong a4 = s[4];
        ulong a5 = s[5];
        ulong a6 = s[6];
        ulong a7 = s[7];
        ulong a8 = s[8];
        ulong a9 = s[9];
        ulong a10 = s[10];
        ulong a11 = s[11];
        ulong a12 = s[12];
        ulong a13 = s[13];
        ulong a14 = s[14];
        ulong a15 = s[15];
        ulong a16 = s[16];
        ulong a17 = s[17];
        ulong a18 = s[18];
        ulong a19 = s[19];
        ulong a20 = s[20];
        ulong a21 = s[21];
        ulong a22 = s[22];
        ulong a23 = s[23];
        ulong a24 = s[24];
        ReadOnlySpan<ulong> rcs = RoundConstants;
        for (int round = 0; round < 24; round++)
        {
            ulong c0 = a0 ^ a5 ^ a10 ^ a15 ^ a20, c1 = a1 ^ a6 ^ a11 ^ a16 ^ a21, c2 = a2 ^ a7 ^ a12 ^ a17 ^ a22, c3 = a3 ^ a8 ^ a13 ^ a18 ^ a23, c4 = a4 ^ a9 ^ a14 ^ a19 ^ a24;
            ulong d0 = c4 ^ BitOperations.RotateLeft(c1, 1);
            ulong d1 = c0 ^ BitOperations.RotateLeft(c2, 1);
            ulong d2 = c1 ^ BitOperations.RotateLeft(c3, 1);
            ulong d3 = c2 ^ BitOperations.RotateLeft(c4, 1);
            ulong d4 = c3 ^ BitOperations.RotateLeft(c0, 1);
            ulong b0 = (a0 ^ d0);
            ulong b1 = BitOperations.RotateLeft((a6 ^ d1), 44);
            ulong b2 = BitOperations.RotateLeft((a12 ^ d2), 43);
            ulong b3 = BitOperations.RotateLeft((a18 ^ d3), 21);
            ulong b4 = BitOperations.RotateLeft((a24 ^ d4), 14);
            ulong b5 = BitOperations.RotateLeft((a3 ^ d3), 28);
            ulong b6 = BitOperations.RotateLeft((a9 ^ d4), 20);
            ulong b7 = BitOperations.RotateLeft((a10 ^ d0), 3);
            ulong b8 = BitOperations.RotateLeft((a16 ^ d1), 45);
            ulong b9 = BitOperations.RotateLeft((a22 ^ d2), 61);
            ulong b10 = BitOperations.RotateLeft((a1 ^ d1), 1);
            ulong b11 = BitOperations.RotateLeft((a7 ^ d2), 6);
            ulong b12 = BitOperations.RotateLeft((a13 ^ d3), 25);
            ulong b13 = BitOperations.RotateLeft((a19 ^ d4), 8);
            ulong b14 = BitOperations.RotateLeft((a20 ^ d0), 18);
            ulong b15 = BitOperations.RotateLeft((a4 ^ d4), 27);
            ulong b16 = BitOperations.RotateLeft((a5 ^ d0), 36);
            ulong b17 = BitOperations.RotateLeft((a11 ^ d1), 10);
            ulong b18 = BitOperations.RotateLeft((a17 ^ d2), 15);
            ulong b19 = BitOperations.RotateLeft((a23 ^ d3), 56);
            ulong b20 = BitOperations.RotateLeft((a2 ^ d2), 62);
            ulong b21 = BitOperations.RotateLeft((a8 ^ d3), 55);
            ulong b22 = BitOperations.RotateLeft((a14 ^ d4), 39);
            ulong b23 = BitOperations.RotateLeft((a15 ^ d0), 41);
            ulong b24 = BitOperations.RotateLeft((a21 ^ d1), 2);
            a0 = b0 ^ (~b1 & b2);
            a1 = b1 ^ (~b2 & b3);
            a2 = b2 ^ (~b3 & b4);
            a3 = b3 ^ (~b4 & b0);
            a4 = b4 ^ (~b0 & b1);
            a5 = b5 ^ (~b6 & b7);
            a6 = b6 ^ (~b7 & b8);
            a7 = b7 ^ (~b8 & b9);
            a8 = b8 ^ (~b9 & b5);
            a9 = b9 ^ (~b5 & b6);
            a10 = b10 ^ (~b11 & b12);
            a11 = b11 ^ (~b12 & b13);
            a12 = b12 ^ (~b13 & b14);
            a13 = b13 ^ (~b14 & b10);
            a14 = b14 ^ (~b10 & b11);
            a15 = b15 ^ (~b16 & b17);
            a16 = b16 ^ (~b17 & b18);
            a17 = b17 ^ (~b18 & b19);
            a18 = b18 ^ (~b19 & b15);
            a19 = b19 ^ (~b15 & b16);
            a20 = b20 ^ (~b21 & b22);
            a21 = b21 ^ (~b22 & b23);
            a22 = b22 ^ (~b23 & b24);
            a23 = b23 ^ (~b24 & b20);
            a24 = b24 ^ (~b20 & b21);
            a0 ^= rcs[round];
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
