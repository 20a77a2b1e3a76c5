using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace P2PStack.Privacy.Onion.Crypto;

/// <summary>Byte helpers of the cell crypto.</summary>
internal static class Bytes
{
    /// <summary><paramref name="target"/> ^= <paramref name="source"/> over the target's length.</summary>
    public static void Xor(Span<byte> target, ReadOnlySpan<byte> source)
    {
        if (source.Length < target.Length) throw new ArgumentException("the source is shorter than the target", nameof(source));
        int i = 0;
        ref byte t = ref MemoryMarshal.GetReference(target);
        ref byte s = ref MemoryMarshal.GetReference(source);
        for (; i + 16 <= target.Length; i += 16)
        {
            var value = Unsafe.ReadUnaligned<Vector128<byte>>(ref Unsafe.Add(ref t, i)) ^ Unsafe.ReadUnaligned<Vector128<byte>>(ref Unsafe.Add(ref s, i));
            Unsafe.WriteUnaligned(ref Unsafe.Add(ref t, i), value);
        }
        for (; i < target.Length; i++) Unsafe.Add(ref t, i) ^= Unsafe.Add(ref s, i);
    }
}
