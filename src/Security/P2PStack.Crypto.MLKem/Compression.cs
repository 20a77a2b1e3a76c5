using System.Runtime.CompilerServices;

namespace P2PStack.Crypto.MLKem;

/// <summary>Compress_d and Decompress_d (FIPS 203 eq. 4.7, 4.8) without division or secret-dependent branches.</summary>
internal static class Compression
{
    // floor(n / 2q) = (n * M) >> 34 for every n = (x << (d + 1)) + q with x < q, d <= 11 (checked exhaustively by tests).
    private const ulong DivMagic = 2580335;
    private const int DivShift = 34;

    /// <summary>round(2^d / q * x) mod 2^d for canonical x in [0, q).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Compress(short x, int d)
    {
        ulong n = ((ulong)(uint)x << (d + 1)) + (ulong)Fq.Q;
        return (uint)((n * DivMagic) >> DivShift) & ((1u << d) - 1);
    }

    /// <summary>round(q / 2^d * y) for y in [0, 2^d).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static short Decompress(uint y, int d) => (short)((y * (uint)Fq.Q + (1u << (d - 1))) >> d);

    /// <summary>ByteEncode_d(Compress_d(poly)) into 32*d bytes.</summary>
    public static void CompressAndEncode(ReadOnlySpan<short> poly, int d, Span<byte> output)
    {
        Span<short> compressed = stackalloc short[Poly.N];
        for (int i = 0; i < Poly.N; i++) compressed[i] = (short)Compress(Fq.Canonical(poly[i]), d);
        ByteCodec.Encode(compressed, d, output);
        compressed.Clear();
    }

    /// <summary>Decompress_d(ByteDecode_d(input)).</summary>
    public static void DecodeAndDecompress(ReadOnlySpan<byte> input, int d, Span<short> poly)
    {
        ByteCodec.Decode(input, d, poly);
        for (int i = 0; i < Poly.N; i++) poly[i] = Decompress((ushort)poly[i], d);
    }
}
