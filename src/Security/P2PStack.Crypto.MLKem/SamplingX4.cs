using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace P2PStack.Crypto.MLKem;

/// <summary>
/// Matrix expansion and noise sampling four polynomials at a time on <see cref="KeccakF1600x4"/>. Same outputs as
/// <see cref="Sampling"/>: each of the four lanes is an independent SHAKE instance with a short (one-block) input.
/// </summary>
internal static class SamplingX4
{
    private const int N = Poly.N;

    /// <summary>Absorbs input_j = prefix || suffix[j * suffixLength ..] (less than one block) into lane j, pads, permutes.</summary>
    private static void AbsorbOneBlock(Span<Vector256<ulong>> state, int rate, ReadOnlySpan<byte> prefix,
        ReadOnlySpan<byte> suffixes, int suffixLength)
    {
        Span<byte> blocks = stackalloc byte[4 * 168];
        blocks.Clear();
        int inputLength = prefix.Length + suffixLength;
        for (int j = 0; j < 4; j++)
        {
            Span<byte> block = blocks.Slice(j * rate, rate);
            prefix.CopyTo(block);
            suffixes.Slice(j * suffixLength, suffixLength).CopyTo(block[prefix.Length..]);
            block[inputLength] ^= KeccakSponge.ShakeDomain;
            block[rate - 1] ^= 0x80;
        }
        state.Clear();
        for (int i = 0; i < rate / 8; i++)
        {
            state[i] = Vector256.Create(
                BinaryPrimitives.ReadUInt64LittleEndian(blocks.Slice(8 * i, 8)),
                BinaryPrimitives.ReadUInt64LittleEndian(blocks.Slice(rate + 8 * i, 8)),
                BinaryPrimitives.ReadUInt64LittleEndian(blocks.Slice(2 * rate + 8 * i, 8)),
                BinaryPrimitives.ReadUInt64LittleEndian(blocks.Slice(3 * rate + 8 * i, 8)));
        }
        blocks.Clear();
        KeccakF1600x4.Permute(state);
    }

    /// <summary>
    /// Writes the current output block of lane j to outputs[j * stride + offset ..]. The caller permutes before the
    /// next block, and only when one is needed: most calls need no permutation after their last block.
    /// </summary>
    private static void SqueezeBlock(Span<Vector256<ulong>> state, int rate, Span<byte> outputs, int stride, int offset)
    {
        int words = rate / 8, i = 0;
        if (Avx2.IsSupported)
        {
            // Four state words of all four instances at a time: a 4 x 4 transpose of 64-bit elements gives each
            // instance's 32 consecutive output bytes in one vector.
            for (; i + 4 <= words; i += 4)
            {
                Vector256<ulong> t0 = Avx2.UnpackLow(state[i], state[i + 1]);
                Vector256<ulong> t1 = Avx2.UnpackHigh(state[i], state[i + 1]);
                Vector256<ulong> t2 = Avx2.UnpackLow(state[i + 2], state[i + 3]);
                Vector256<ulong> t3 = Avx2.UnpackHigh(state[i + 2], state[i + 3]);
                int at = offset + 8 * i;
                MemoryMarshal.Write(outputs.Slice(at, 32), Avx2.Permute2x128(t0, t2, 0x20));
                MemoryMarshal.Write(outputs.Slice(stride + at, 32), Avx2.Permute2x128(t1, t3, 0x20));
                MemoryMarshal.Write(outputs.Slice(2 * stride + at, 32), Avx2.Permute2x128(t0, t2, 0x31));
                MemoryMarshal.Write(outputs.Slice(3 * stride + at, 32), Avx2.Permute2x128(t1, t3, 0x31));
            }
        }
        for (; i < words; i++)
        {
            Vector256<ulong> lane = state[i];
            for (int j = 0; j < 4; j++)
                BinaryPrimitives.WriteUInt64LittleEndian(outputs.Slice(j * stride + offset + 8 * i, 8), lane.GetElement(j));
        }
    }

    public static void ExpandMatrix(ReadOnlySpan<byte> rho, int k, Span<short> matrix)
    {
        const int Rate = KeccakSponge.Shake128Rate, Stride = 3 * Rate;
        Span<Vector256<ulong>> state = stackalloc Vector256<ulong>[25];
        Span<byte> buffer = stackalloc byte[4 * Stride];
        Span<byte> suffixes = stackalloc byte[8];
        Span<int> counts = stackalloc int[4];
        int total = k * k;
        for (int first = 0; first < total; first += 4)
        {
            for (int j = 0; j < 4; j++)
            {
                int entry = Math.Min(first + j, total - 1); // spare lanes repeat the last entry
                suffixes[2 * j] = (byte)(entry % k);       // column j of A-hat[i, j] comes first: rho || j || i
                suffixes[2 * j + 1] = (byte)(entry / k);
            }
            AbsorbOneBlock(state, Rate, rho[..32], suffixes, 2);
            for (int b = 0; b < 3; b++)
            {
                if (b > 0) KeccakF1600x4.Permute(state);
                SqueezeBlock(state, Rate, buffer, Stride, b * Rate);
            }
            int lanes = Math.Min(4, total - first);
            bool done = true;
            for (int j = 0; j < lanes; j++)
            {
                counts[j] = Sampling.RejectSample(matrix.Slice((first + j) * N, N), 0, buffer.Slice(j * Stride, Stride));
                done &= counts[j] == N;
            }
            while (!done)
            {
                KeccakF1600x4.Permute(state);
                SqueezeBlock(state, Rate, buffer, Stride, 0);
                done = true;
                for (int j = 0; j < lanes; j++)
                {
                    if (counts[j] < N)
                        counts[j] = Sampling.RejectSample(matrix.Slice((first + j) * N, N), counts[j], buffer.Slice(j * Stride, Rate));
                    done &= counts[j] == N;
                }
            }
        }
    }

    public static void NoiseVector(ReadOnlySpan<byte> seed32, byte firstNonce, int eta, int count, Span<short> output)
    {
        const int Rate = KeccakSponge.Shake256Rate, Stride = 2 * Rate;
        Span<Vector256<ulong>> state = stackalloc Vector256<ulong>[25];
        Span<byte> buffer = stackalloc byte[4 * Stride];
        Span<byte> nonces = stackalloc byte[4];
        int bytesNeeded = 64 * eta;
        for (int first = 0; first < count; first += 4)
        {
            for (int j = 0; j < 4; j++) nonces[j] = (byte)(firstNonce + Math.Min(first + j, count - 1));
            AbsorbOneBlock(state, Rate, seed32[..32], nonces, 1);
            for (int offset = 0; offset < bytesNeeded; offset += Rate)
            {
                if (offset > 0) KeccakF1600x4.Permute(state);
                SqueezeBlock(state, Rate, buffer, Stride, offset);
            }
            int lanes = Math.Min(4, count - first);
            for (int j = 0; j < lanes; j++)
                Sampling.Cbd(buffer.Slice(j * Stride, bytesNeeded), eta, output.Slice((first + j) * N, N));
        }
        buffer.Clear();
        state.Clear();
    }
}
