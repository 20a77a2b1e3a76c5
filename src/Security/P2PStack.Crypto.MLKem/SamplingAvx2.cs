using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace P2PStack.Crypto.MLKem;

/// <summary>
/// AVX2 forms of the rejection sampling (SampleNTT's inner loop) and of SamplePolyCBD, with the same outputs as
/// the scalar code in <see cref="Sampling"/>.
/// </summary>
internal static class SamplingAvx2
{
    /// <summary>For each 8-bit mask of accepted candidates, the byte shuffle moving their 16-bit words to the front.</summary>
    private static readonly byte[] s_compress = BuildCompressTable();

    private static byte[] BuildCompressTable()
    {
        var table = new byte[256 * 16];
        for (int mask = 0; mask < 256; mask++)
        {
            Span<byte> row = table.AsSpan(mask * 16, 16);
            row.Fill(0x80);
            int n = 0;
            for (int i = 0; i < 8; i++)
            {
                if ((mask >> i & 1) == 0) continue;
                row[2 * n] = (byte)(2 * i);
                row[2 * n + 1] = (byte)(2 * i + 1);
                n++;
            }
        }
        return table;
    }

    /// <summary>
    /// As <see cref="Sampling.RejectSample"/>: 24 input bytes (16 candidates) per step while at least 16 free slots
    /// and 32 readable bytes remain, then the scalar loop for the rest. Candidates come from public data (rho), so
    /// the data-dependent branches and table look-ups leak nothing secret. Entries from the returned count on may be
    /// overwritten (whole groups are stored); callers sample until the count reaches 256.
    /// </summary>
    public static int RejectSample(Span<short> poly, int count, ReadOnlySpan<byte> bytes)
    {
        int p = 0;
        if (poly.Length >= Poly.N)
        {
            Vector256<byte> spread = Vector256.Create(
                (byte)0, 1, 1, 2, 3, 4, 4, 5, 6, 7, 7, 8, 9, 10, 10, 11,
                4, 5, 5, 6, 7, 8, 8, 9, 10, 11, 11, 12, 13, 14, 14, 15);
            Vector256<short> q = Vector256.Create((short)Fq.Q);
            Vector256<short> mask12 = Vector256.Create((short)0x0FFF);
            ref short output = ref MemoryMarshal.GetReference(poly);
            ref byte table = ref MemoryMarshal.GetArrayDataReference(s_compress);
            while (count <= Poly.N - 16 && p + 32 <= bytes.Length)
            {
                Vector256<ulong> raw = Vector256.Create<byte>(bytes.Slice(p, 32)).AsUInt64();
                // 64-bit words 0, 1, 1, 2: the low half holds input bytes 0..15, the high half bytes 8..23.
                Vector256<short> f = Avx2.Shuffle(Avx2.Permute4x64(raw, 0x94).AsByte(), spread).AsInt16();
                // Even words: the low 12 bits; odd words: the high 12 bits of their two bytes.
                f = Avx2.And(Avx2.Blend(f, Avx2.ShiftRightLogical(f, 4), 0xAA), mask12);
                Vector256<short> good = Avx2.CompareGreaterThan(q, f);
                int bits = Sse2.MoveMask(Sse2.PackSignedSaturate(good.GetLower(), good.GetUpper()));
                int low = bits & 0xFF, high = bits >> 8;
                Vector128<byte> lo = Ssse3.Shuffle(f.GetLower().AsByte(),
                    Unsafe.ReadUnaligned<Vector128<byte>>(ref Unsafe.Add(ref table, low * 16)));
                Unsafe.WriteUnaligned(ref Unsafe.As<short, byte>(ref Unsafe.Add(ref output, count)), lo);
                count += BitOperations.PopCount((uint)low);
                Vector128<byte> hi = Ssse3.Shuffle(f.GetUpper().AsByte(),
                    Unsafe.ReadUnaligned<Vector128<byte>>(ref Unsafe.Add(ref table, high * 16)));
                Unsafe.WriteUnaligned(ref Unsafe.As<short, byte>(ref Unsafe.Add(ref output, count)), hi);
                count += BitOperations.PopCount((uint)high);
                p += 24;
            }
        }
        return Sampling.RejectSampleScalar(poly, count, bytes[p..]);
    }

    /// <summary>
    /// As <see cref="ByteCodec.DecodeReduced12"/>: 16 values per 24 bytes with the shuffle of
    /// <see cref="RejectSample"/>, then the reduction mod q and the modulus check on whole vectors (branch-free: the
    /// decapsulation key's secret vector goes through here too).
    /// </summary>
    public static bool DecodeReduced12(ReadOnlySpan<byte> input, Span<short> poly)
    {
        input = input[..384];
        poly = poly[..Poly.N];
        Vector256<byte> spread = Vector256.Create(
            (byte)0, 1, 1, 2, 3, 4, 4, 5, 6, 7, 7, 8, 9, 10, 10, 11,
            4, 5, 5, 6, 7, 8, 8, 9, 10, 11, 11, 12, 13, 14, 14, 15);
        Vector256<short> q = Vector256.Create((short)Fq.Q), qMinus1 = Vector256.Create((short)(Fq.Q - 1));
        Vector256<short> mask12 = Vector256.Create((short)0x0FFF);
        Vector256<short> overflow = Vector256<short>.Zero;
        Span<byte> last = stackalloc byte[32];
        for (int g = 0; g < 16; g++)
        {
            scoped ReadOnlySpan<byte> source;
            if (24 * g + 32 <= input.Length) source = input.Slice(24 * g, 32);
            else
            {
                last.Clear();
                input.Slice(24 * g, 24).CopyTo(last);
                source = last;
            }
            Vector256<ulong> raw = Vector256.Create<byte>(source).AsUInt64();
            Vector256<short> f = Avx2.Shuffle(Avx2.Permute4x64(raw, 0x94).AsByte(), spread).AsInt16();
            f = Avx2.And(Avx2.Blend(f, Avx2.ShiftRightLogical(f, 4), 0xAA), mask12);
            Vector256<short> tooLarge = Avx2.CompareGreaterThan(f, qMinus1);
            overflow = Avx2.Or(overflow, tooLarge);
            f = Avx2.Subtract(f, Avx2.And(tooLarge, q));
            f.CopyTo(poly.Slice(16 * g, 16));
        }
        last.Clear();
        return Avx2.MoveMask(overflow.AsByte()) == 0;
    }

    /// <summary>SamplePolyCBD_2 over 128 bytes: 32 coefficients per 16 input bytes.</summary>
    public static void Cbd2(ReadOnlySpan<byte> bytes, Span<short> poly)
    {
        bytes = bytes[..128];
        poly = poly[..Poly.N];
        Vector128<byte> m55 = Vector128.Create((byte)0x55), m0f = Vector128.Create((byte)0x0F), m03 = Vector128.Create((byte)0x03);
        for (int i = 0; i < 8; i++)
        {
            Vector128<byte> x = Vector128.Create<byte>(bytes.Slice(16 * i, 16));
            // Per byte: bits 0-1 a0, 2-3 b0, 4-5 a1, 6-7 b1 (the bit counts of the two coefficients' halves).
            Vector128<byte> d = Sse2.Add(Sse2.And(x, m55), Sse2.And(Sse2.ShiftRightLogical(x.AsUInt16(), 1).AsByte(), m55));
            Vector128<byte> lo = Sse2.And(d, m0f), hi = Sse2.And(Sse2.ShiftRightLogical(d.AsUInt16(), 4).AsByte(), m0f);
            lo = Sse2.Subtract(Sse2.And(lo, m03), Sse2.ShiftRightLogical(lo.AsUInt16(), 2).AsByte() & m03);
            hi = Sse2.Subtract(Sse2.And(hi, m03), Sse2.ShiftRightLogical(hi.AsUInt16(), 2).AsByte() & m03);
            // Coefficient 2n is byte n's low nibble, 2n + 1 its high nibble.
            Vector256<short> c0 = Avx2.ConvertToVector256Int16(Sse2.UnpackLow(lo, hi).AsSByte());
            Vector256<short> c1 = Avx2.ConvertToVector256Int16(Sse2.UnpackHigh(lo, hi).AsSByte());
            c0.CopyTo(poly.Slice(32 * i, 16));
            c1.CopyTo(poly.Slice(32 * i + 16, 16));
        }
    }

    /// <summary>SamplePolyCBD_3 over 192 bytes: 32 coefficients per 24 input bytes (3 bytes give 4).</summary>
    public static void Cbd3(ReadOnlySpan<byte> bytes, Span<short> poly)
    {
        poly = poly[..Poly.N];
        Vector256<byte> spread = Vector256.Create(
            (byte)0, 1, 2, 0x80, 3, 4, 5, 0x80, 6, 7, 8, 0x80, 9, 10, 11, 0x80,
            4, 5, 6, 0x80, 7, 8, 9, 0x80, 10, 11, 12, 0x80, 13, 14, 15, 0x80);
        Vector256<uint> m249 = Vector256.Create(0x249249u), m3f = Vector256.Create(0x3Fu);
        Vector256<short> m7 = Vector256.Create((short)7);
        Span<byte> last = stackalloc byte[32];
        for (int i = 0; i < 8; i++)
        {
            // Read 32 bytes where possible; the last group of 24 comes from a copy padded to 32.
            scoped ReadOnlySpan<byte> source;
            if (24 * i + 32 <= bytes.Length) source = bytes.Slice(24 * i, 32);
            else
            {
                last.Clear();
                bytes.Slice(24 * i, 24).CopyTo(last);
                source = last;
            }
            Vector256<ulong> raw = Vector256.Create<byte>(source).AsUInt64();
            // Each 32-bit lane gets 3 input bytes: lanes 0-3 bytes 0..11, lanes 4-7 bytes 12..23.
            Vector256<uint> t = Avx2.Shuffle(Avx2.Permute4x64(raw, 0x94).AsByte(), spread).AsUInt32();
            Vector256<uint> d = Avx2.And(t, m249) + Avx2.And(Avx2.ShiftRightLogical(t, 1), m249) + Avx2.And(Avx2.ShiftRightLogical(t, 2), m249);
            // Four 6-bit fields (a: 3 bits, b: 3 bits) per lane, as 16-bit words in coefficient order.
            Vector256<uint> e01 = Avx2.And(d, m3f) | Avx2.ShiftLeftLogical(Avx2.And(Avx2.ShiftRightLogical(d, 6), m3f), 16);
            Vector256<uint> e23 = Avx2.And(Avx2.ShiftRightLogical(d, 12), m3f) | Avx2.ShiftLeftLogical(Avx2.ShiftRightLogical(d, 18), 16);
            Vector256<uint> u0 = Avx2.UnpackLow(e01, e23), u1 = Avx2.UnpackHigh(e01, e23);
            Vector256<short> c0 = Avx2.Permute2x128(u0, u1, 0x20).AsInt16(), c1 = Avx2.Permute2x128(u0, u1, 0x31).AsInt16();
            c0 = Avx2.Subtract(Avx2.And(c0, m7), Avx2.ShiftRightLogical(c0, 3));
            c1 = Avx2.Subtract(Avx2.And(c1, m7), Avx2.ShiftRightLogical(c1, 3));
            c0.CopyTo(poly.Slice(32 * i, 16));
            c1.CopyTo(poly.Slice(32 * i + 16, 16));
        }
        last.Clear();
    }
}
