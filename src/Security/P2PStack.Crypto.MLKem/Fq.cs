using System.Runtime.CompilerServices;

namespace P2PStack.Crypto.MLKem;

/// <summary>Modular reductions mod q = 3329 on 16-bit coefficients, free of secret-dependent branches.</summary>
internal static class Fq
{
    public const short Q = 3329;
    /// <summary>q^-1 mod 2^16, as a signed 16-bit value.</summary>
    public const short QInv = -3327;
    /// <summary>round(2^26 / q), for Barrett reduction.</summary>
    public const int BarrettV = 20159;
    /// <summary>2^32 mod q: multiplying by it in Montgomery form maps x to x * 2^16.</summary>
    public const short MontSquared = 1353;

    /// <summary>Returns a * 2^-16 mod q in (-q, q) for |a| &lt; q * 2^15.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static short Montgomery(int a)
    {
        short t = (short)((short)a * QInv);
        return (short)((a - t * Q) >> 16);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static short Mul(short a, short b) => Montgomery(a * b);

    /// <summary>Returns the representative of a mod q in [-(q-1)/2, (q-1)/2].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static short Barrett(short a)
    {
        int t = (BarrettV * a + (1 << 25)) >> 26;
        return (short)(a - t * Q);
    }

    /// <summary>Maps a value in (-q, q) to [0, q) with a mask, not a branch.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static short AddQIfNegative(short a) => (short)(a + ((a >> 15) & Q));

    /// <summary>The canonical representative in [0, q) of any 16-bit value.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static short Canonical(short a) => AddQIfNegative(Barrett(a));
}
