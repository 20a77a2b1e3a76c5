namespace P2PStack.Crypto.MLKem;

/// <summary>ByteEncode_d / ByteDecode_d (FIPS 203 Algorithms 5 and 6): little-endian bit packing of 256 values.</summary>
internal static class ByteCodec
{
    /// <summary>Packs 256 values of <paramref name="d"/> bits each (already in range) into 32*d bytes.</summary>
    public static void Encode(ReadOnlySpan<short> values, int d, Span<byte> output)
    {
        if (d == 12)
        {
            for (int i = 0; i < Poly.N / 2; i++)
            {
                uint a = (ushort)values[2 * i], b = (ushort)values[2 * i + 1];
                output[3 * i] = (byte)a;
                output[3 * i + 1] = (byte)((a >> 8) | (b << 4));
                output[3 * i + 2] = (byte)(b >> 4);
            }
            return;
        }
        if (d is 4 or 5 or 10 or 11)
        {
            EncodeGroups(values, d, output);
            return;
        }
        ulong acc = 0;
        int bits = 0, o = 0;
        for (int i = 0; i < Poly.N; i++)
        {
            acc |= (ulong)(ushort)values[i] << bits;
            bits += d;
            while (bits >= 8)
            {
                output[o++] = (byte)acc;
                acc >>= 8;
                bits -= 8;
            }
        }
    }

    // The ciphertext widths (d_u = 10, 11 and d_v = 4, 5): 8 values are d whole bytes, packed without a loop per bit.
    private static void EncodeGroups(ReadOnlySpan<short> values, int d, Span<byte> output)
    {
        values = values[..Poly.N];
        output = output[..(32 * d)];
        Span<byte> word = stackalloc byte[16];
        for (int g = 0; g < Poly.N / 8; g++)
        {
            ReadOnlySpan<short> v = values.Slice(8 * g, 8);
            // Eight values of d bits: up to 88 bits, packed into two little-endian words.
            ulong lo = 0, hi = 0;
            for (int j = 0; j < 8; j++)
            {
                ulong x = (ushort)v[j];
                int shift = d * j;
                if (shift >= 64)
                {
                    hi |= x << (shift - 64);
                }
                else
                {
                    lo |= x << shift;
                    if (shift + d > 64) hi |= x >> (64 - shift);
                }
            }
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(word, lo);
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(word[8..], hi);
            word[..d].CopyTo(output.Slice(d * g, d));
        }
    }

    private static void DecodeGroups(ReadOnlySpan<byte> input, int d, Span<short> values)
    {
        values = values[..Poly.N];
        input = input[..(32 * d)];
        Span<byte> word = stackalloc byte[16];
        word.Clear();
        ulong mask = (1UL << d) - 1;
        for (int g = 0; g < Poly.N / 8; g++)
        {
            input.Slice(d * g, d).CopyTo(word);
            ulong lo = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(word);
            ulong hi = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(word[8..]);
            Span<short> v = values.Slice(8 * g, 8);
            for (int j = 0; j < 8; j++)
            {
                int shift = d * j;
                ulong bits = shift >= 64 ? hi >> (shift - 64)
                    : shift == 0 ? lo
                    : (lo >> shift) | (hi << (64 - shift));
                v[j] = (short)(bits & mask);
            }
        }
    }

    /// <summary>Unpacks 32*d bytes into 256 values of <paramref name="d"/> bits (no reduction mod q).</summary>
    public static void Decode(ReadOnlySpan<byte> input, int d, Span<short> values)
    {
        if (d == 12)
        {
            for (int i = 0; i < Poly.N / 2; i++)
            {
                uint b0 = input[3 * i], b1 = input[3 * i + 1], b2 = input[3 * i + 2];
                values[2 * i] = (short)(b0 | ((b1 & 0x0F) << 8));
                values[2 * i + 1] = (short)((b1 >> 4) | (b2 << 4));
            }
            return;
        }
        if (d is 4 or 5 or 10 or 11)
        {
            DecodeGroups(input, d, values);
            return;
        }
        ulong acc = 0;
        int bits = 0, p = 0;
        uint mask = (1u << d) - 1;
        for (int i = 0; i < Poly.N; i++)
        {
            while (bits < d)
            {
                acc |= (ulong)input[p++] << bits;
                bits += 8;
            }
            values[i] = (short)(acc & mask);
            acc >>= d;
            bits -= d;
        }
    }

    /// <summary>ByteEncode12 of canonical coefficients (brings any 16-bit value into [0, q) first).</summary>
    public static void EncodeCanonical12(ReadOnlySpan<short> poly, Span<byte> output)
    {
        Span<short> canonical = stackalloc short[Poly.N];
        for (int i = 0; i < Poly.N; i++) canonical[i] = Fq.Canonical(poly[i]);
        Encode(canonical, 12, output);
        canonical.Clear();
    }

    /// <summary>
    /// ByteDecode12 followed by reduction mod q, as FIPS 203 defines it. Returns false when some encoded value was
    /// at least q, which is what the encapsulation-key modulus check (Section 7.2) rejects.
    /// </summary>
    public static bool DecodeReduced12(ReadOnlySpan<byte> input, Span<short> poly)
    {
        if (SimdSwitch.UseAvx2) return SamplingAvx2.DecodeReduced12(input, poly);
        Decode(input, 12, poly);
        int overflow = 0;
        for (int i = 0; i < Poly.N; i++)
        {
            short v = poly[i];
            // (q - 1 - v) is negative exactly when v >= q; collect the sign bit without branching.
            overflow |= (Fq.Q - 1 - v) >> 31;
            poly[i] = (short)(v - (Fq.Q & ~((v - Fq.Q) >> 31)));
        }
        return overflow == 0;
    }

    /// <summary>Message to polynomial: bit i becomes round(q/2) or 0 (Decompress_1 of ByteDecode_1), branch-free.</summary>
    public static void FromMessage(ReadOnlySpan<byte> message32, Span<short> poly)
    {
        for (int i = 0; i < 32; i++)
        {
            uint b = message32[i];
            for (int j = 0; j < 8; j++)
            {
                int bit = (int)((b >> j) & 1);
                poly[8 * i + j] = (short)(-bit & ((Fq.Q + 1) / 2));
            }
        }
    }

    /// <summary>Polynomial to message: ByteEncode_1 of Compress_1, branch-free.</summary>
    public static void ToMessage(ReadOnlySpan<short> poly, Span<byte> message32)
    {
        for (int i = 0; i < 32; i++)
        {
            uint b = 0;
            for (int j = 0; j < 8; j++)
            {
                uint bit = Compression.Compress(Fq.Canonical(poly[8 * i + j]), 1);
                b |= bit << j;
            }
            message32[i] = (byte)b;
        }
    }
}
