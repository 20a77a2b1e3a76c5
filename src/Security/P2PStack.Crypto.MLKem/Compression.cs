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
        // The widths ML-KEM-512 and -768 use (d_u = 10, d_v = 4) in one pass, without staging.
        if (d == 10)
        {
            poly = poly[..Poly.N];
            output = output[..320];
            for (int i = 0; i < Poly.N / 4; i++)
            {
                uint v0 = Compress(Fq.Canonical(poly[4 * i]), 10), v1 = Compress(Fq.Canonical(poly[4 * i + 1]), 10);
                uint v2 = Compress(Fq.Canonical(poly[4 * i + 2]), 10), v3 = Compress(Fq.Canonical(poly[4 * i + 3]), 10);
                Span<byte> o = output.Slice(5 * i, 5);
                o[4] = (byte)(v3 >> 2);
                o[0] = (byte)v0;
                o[1] = (byte)((v0 >> 8) | (v1 << 2));
                o[2] = (byte)((v1 >> 6) | (v2 << 4));
                o[3] = (byte)((v2 >> 4) | (v3 << 6));
            }
            return;
        }
        if (d == 4)
        {
            poly = poly[..Poly.N];
            output = output[..128];
            for (int i = 0; i < Poly.N / 2; i++)
                output[i] = (byte)(Compress(Fq.Canonical(poly[2 * i]), 4) | (Compress(Fq.Canonical(poly[2 * i + 1]), 4) << 4));
            return;
        }
        Span<short> compressed = stackalloc short[Poly.N];
        for (int i = 0; i < Poly.N; i++) compressed[i] = (short)Compress(Fq.Canonical(poly[i]), d);
        ByteCodec.Encode(compressed, d, output);
        compressed.Clear();
    }

    /// <summary>Decompress_d(ByteDecode_d(input)).</summary>
    public static void DecodeAndDecompress(ReadOnlySpan<byte> input, int d, Span<short> poly)
    {
        if (d == 10)
        {
            poly = poly[..Poly.N];
            input = input[..320];
            for (int i = 0; i < Poly.N / 4; i++)
            {
                ReadOnlySpan<byte> b = input.Slice(5 * i, 5);
                uint b4 = b[4], b0 = b[0], b1 = b[1], b2 = b[2], b3 = b[3];
                Span<short> r = poly.Slice(4 * i, 4);
                r[3] = Decompress((b3 >> 6) | (b4 << 2), 10);
                r[0] = Decompress(b0 | ((b1 & 0x03) << 8), 10);
                r[1] = Decompress((b1 >> 2) | ((b2 & 0x0F) << 6), 10);
                r[2] = Decompress((b2 >> 4) | ((b3 & 0x3F) << 4), 10);
            }
            return;
        }
        if (d == 4)
        {
            poly = poly[..Poly.N];
            input = input[..128];
            for (int i = 0; i < Poly.N / 2; i++)
            {
                uint b = input[i];
                poly[2 * i] = Decompress(b & 0x0F, 4);
                poly[2 * i + 1] = Decompress(b >> 4, 4);
            }
            return;
        }
        ByteCodec.Decode(input, d, poly);
        for (int i = 0; i < Poly.N; i++) poly[i] = Decompress((ushort)poly[i], d);
    }
}
