using System.Security.Cryptography;
using Org.BouncyCastle.Crypto.Digests;

namespace P2PStack.Encoding;

/// <summary>The hash functions <see cref="Multihash.Compute(ulong, ReadOnlySpan{byte})"/> can run.</summary>
internal static class MultihashAlgorithms
{
    public static bool IsSupported(ulong code) => code switch
    {
        MultihashCode.Identity or MultihashCode.Sha1 or MultihashCode.Sha2_256 or MultihashCode.Sha2_384
            or MultihashCode.Sha2_512 or MultihashCode.DoubleSha2_256 => true,
        MultihashCode.Sha3_224 or MultihashCode.Sha3_256 or MultihashCode.Sha3_384 or MultihashCode.Sha3_512 => Sha3Supported(code),
        >= MultihashCode.Blake2b8 and <= MultihashCode.Blake2b512 => true,
        >= MultihashCode.Blake2s8 and <= MultihashCode.Blake2s256 => true,
        _ => false,
    };

    private static bool Sha3Supported(ulong code) => code switch
    {
        MultihashCode.Sha3_256 => SHA3_256.IsSupported,
        MultihashCode.Sha3_384 => SHA3_384.IsSupported,
        MultihashCode.Sha3_512 => SHA3_512.IsSupported,
        // .NET has no SHA3-224; BouncyCastle's Keccak-based Sha3Digest covers it.
        _ => true,
    };

    /// <summary>Writes the full digest of a fixed-size function (destination is exactly its length).</summary>
    public static void Compute(ulong code, ReadOnlySpan<byte> data, Span<byte> destination)
    {
        switch (code)
        {
            case MultihashCode.Sha1: SHA1.HashData(data, destination); break;
            case MultihashCode.Sha2_256: SHA256.HashData(data, destination); break;
            case MultihashCode.Sha2_384: SHA384.HashData(data, destination); break;
            case MultihashCode.Sha2_512: SHA512.HashData(data, destination); break;
            case MultihashCode.DoubleSha2_256:
                Span<byte> first = stackalloc byte[32];
                SHA256.HashData(data, first);
                SHA256.HashData(first, destination);
                break;
            case MultihashCode.Sha3_224: RunBouncy(new Sha3Digest(224), data, destination); break;
            case MultihashCode.Sha3_256: SHA3_256.HashData(data, destination); break;
            case MultihashCode.Sha3_384: SHA3_384.HashData(data, destination); break;
            case MultihashCode.Sha3_512: SHA3_512.HashData(data, destination); break;
            case >= MultihashCode.Blake2b8 and <= MultihashCode.Blake2b512:
                RunBouncy(new Blake2bDigest(destination.Length * 8), data, destination);
                break;
            case >= MultihashCode.Blake2s8 and <= MultihashCode.Blake2s256:
                RunBouncy(new Blake2sDigest(destination.Length * 8), data, destination);
                break;
            default:
                throw new NotSupportedException($"multihash function 0x{code:x} is not supported for computing");
        }
    }

    private static void RunBouncy(Org.BouncyCastle.Crypto.IDigest digest, ReadOnlySpan<byte> data, Span<byte> destination)
    {
        // BouncyCastle 1.8 takes arrays only; chunk through a small pooled buffer to avoid copying the whole input.
        byte[] chunk = System.Buffers.ArrayPool<byte>.Shared.Rent(Math.Min(data.Length, 4096) + 1);
        for (int offset = 0; offset < data.Length; offset += 4096)
        {
            int n = Math.Min(4096, data.Length - offset);
            data.Slice(offset, n).CopyTo(chunk);
            digest.BlockUpdate(chunk, 0, n);
        }
        System.Buffers.ArrayPool<byte>.Shared.Return(chunk);
        byte[] output = new byte[digest.GetDigestSize()];
        digest.DoFinal(output, 0);
        output.AsSpan(0, destination.Length).CopyTo(destination);
    }
}
