using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace P2PStack.Crypto.MLKem;

/// <summary>Comparison and selection whose timing and memory access do not depend on the data.</summary>
internal static class ConstantTime
{
    /// <summary>0xFF when the spans (of equal length) are equal, else 0x00.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    public static byte EqualMask(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b)
    {
        if (a.Length != b.Length) return 0; // lengths are public
        // OR of all XORs; the loop always runs to the end, there is no early exit.
        Vector256<byte> acc = Vector256<byte>.Zero;
        int i = 0;
        for (; i + 32 <= a.Length; i += 32) acc |= Vector256.Create(a.Slice(i, 32)) ^ Vector256.Create(b.Slice(i, 32));
        int diff = 0;
        for (int j = 0; j < 32; j++) diff |= acc.GetElement(j);
        for (; i < a.Length; i++) diff |= a[i] ^ b[i];
        // diff is in [0, 255]: (diff - 1) has its sign bit set exactly when diff == 0.
        return (byte)((diff - 1) >> 8);
    }

    /// <summary>output = mask == 0xFF ? ifSet : ifClear, byte by byte through the mask.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.NoOptimization)]
    public static void Select(byte mask, ReadOnlySpan<byte> ifSet, ReadOnlySpan<byte> ifClear, Span<byte> output)
    {
        for (int i = 0; i < output.Length; i++)
            output[i] = (byte)(ifClear[i] ^ (mask & (ifSet[i] ^ ifClear[i])));
    }
}
