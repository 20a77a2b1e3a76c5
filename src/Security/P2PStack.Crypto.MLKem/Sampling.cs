using System.Buffers.Binary;

namespace P2PStack.Crypto.MLKem;

/// <summary>SampleNTT (Algorithm 7), SamplePolyCBD (Algorithm 8) and the matrix expansion of K-PKE.</summary>
internal static class Sampling
{
    private const int XofBlocks = 3; // 504 bytes give 256 coefficients with high probability

    /// <summary>Fills the k x k matrix: entry (i, j) = SampleNTT(rho || j || i), stored at (i * k + j) * 256.</summary>
    public static void ExpandMatrix(ReadOnlySpan<byte> rho, int k, Span<short> matrix)
    {
        if (SimdSwitch.UseAvx2)
        {
            SamplingX4.ExpandMatrix(rho, k, matrix);
            return;
        }
        for (int i = 0; i < k; i++)
        {
            for (int j = 0; j < k; j++) SampleNtt(rho, (byte)j, (byte)i, matrix.Slice((i * k + j) * Poly.N, Poly.N));
        }
    }

    /// <summary>SampleNTT of the XOF stream SHAKE128(rho || x || y).</summary>
    public static void SampleNtt(ReadOnlySpan<byte> rho, byte x, byte y, Span<short> poly)
    {
        var xof = new KeccakSponge(KeccakSponge.Shake128Rate);
        xof.Absorb(rho[..32]);
        xof.Absorb(x);
        xof.Absorb(y);
        xof.Pad(KeccakSponge.ShakeDomain);
        Span<byte> buffer = stackalloc byte[XofBlocks * KeccakSponge.Shake128Rate];
        xof.Squeeze(buffer);
        int count = RejectSample(poly, 0, buffer);
        while (count < Poly.N)
        {
            Span<byte> block = buffer[..KeccakSponge.Shake128Rate];
            xof.Squeeze(block);
            count = RejectSample(poly, count, block);
        }
    }

    /// <summary>Takes 12-bit candidates from <paramref name="bytes"/> (public data), keeps those below q.</summary>
    public static int RejectSample(Span<short> poly, int count, ReadOnlySpan<byte> bytes) =>
        SimdSwitch.UseAvx2 ? SamplingAvx2.RejectSample(poly, count, bytes) : RejectSampleScalar(poly, count, bytes);

    /// <summary>The scalar form of <see cref="RejectSample"/>.</summary>
    public static int RejectSampleScalar(Span<short> poly, int count, ReadOnlySpan<byte> bytes)
    {
        for (int p = 0; p + 3 <= bytes.Length && count < Poly.N; p += 3)
        {
            int d1 = bytes[p] | ((bytes[p + 1] & 0x0F) << 8);
            int d2 = (bytes[p + 1] >> 4) | (bytes[p + 2] << 4);
            if (d1 < Fq.Q) poly[count++] = (short)d1;
            if (d2 < Fq.Q && count < Poly.N) poly[count++] = (short)d2;
        }
        return count;
    }

    /// <summary>SamplePolyCBD_eta over 64*eta bytes: coefficient i is (sum of eta bits) - (sum of next eta bits).</summary>
    public static void Cbd(ReadOnlySpan<byte> bytes, int eta, Span<short> poly)
    {
        if (SimdSwitch.UseAvx2 && eta is 2 or 3)
        {
            if (eta == 2) SamplingAvx2.Cbd2(bytes, poly);
            else SamplingAvx2.Cbd3(bytes, poly);
            return;
        }
        if (eta == 2)
        {
            for (int i = 0; i < Poly.N / 8; i++)
            {
                uint t = BinaryPrimitives.ReadUInt32LittleEndian(bytes.Slice(4 * i, 4));
                uint d = (t & 0x55555555u) + ((t >> 1) & 0x55555555u);
                for (int j = 0; j < 8; j++)
                {
                    int a = (int)((d >> (4 * j)) & 3), b = (int)((d >> (4 * j + 2)) & 3);
                    poly[8 * i + j] = (short)(a - b);
                }
            }
        }
        else if (eta == 3)
        {
            for (int i = 0; i < Poly.N / 4; i++)
            {
                uint t = bytes[3 * i] | ((uint)bytes[3 * i + 1] << 8) | ((uint)bytes[3 * i + 2] << 16);
                uint d = (t & 0x249249u) + ((t >> 1) & 0x249249u) + ((t >> 2) & 0x249249u);
                for (int j = 0; j < 4; j++)
                {
                    int a = (int)((d >> (6 * j)) & 7), b = (int)((d >> (6 * j + 3)) & 7);
                    poly[4 * i + j] = (short)(a - b);
                }
            }
        }
        else
        {
            throw new ArgumentOutOfRangeException(nameof(eta), "ML-KEM uses eta 2 or 3.");
        }
    }

    /// <summary>
    /// Samples polynomials <paramref name="count"/> in a row from CBD_eta(PRF(seed, firstNonce + i)), writing each
    /// at consecutive 256-coefficient slots of <paramref name="output"/>.
    /// </summary>
    public static void NoiseVector(ReadOnlySpan<byte> seed32, byte firstNonce, int eta, int count, Span<short> output)
    {
        if (SimdSwitch.UseAvx2)
        {
            SamplingX4.NoiseVector(seed32, firstNonce, eta, count, output);
            return;
        }
        Span<byte> buffer = stackalloc byte[64 * 3];
        Span<byte> prf = buffer[..(64 * eta)];
        for (int i = 0; i < count; i++)
        {
            Hashing.Prf(seed32, (byte)(firstNonce + i), prf);
            Cbd(prf, eta, output.Slice(i * Poly.N, Poly.N));
        }
        buffer.Clear();
    }
}
