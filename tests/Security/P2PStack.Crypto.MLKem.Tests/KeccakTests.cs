using System.Security.Cryptography;

namespace P2PStack.Crypto.MLKem.Tests;

/// <summary>Our Keccak sponge against the platform's SHA-3 and SHAKE, including chunked absorbs.</summary>
public class KeccakTests
{
    private static byte[] Sponge(int rate, byte domain, byte[] input, int outLength, int chunk)
    {
        var sponge = new KeccakSponge(rate);
        for (int i = 0; i < input.Length; i += chunk) sponge.Absorb(input.AsSpan(i, Math.Min(chunk, input.Length - i)));
        sponge.Pad(domain);
        var output = new byte[outLength];
        for (int i = 0; i < outLength; i += 7) sponge.Squeeze(output.AsSpan(i, Math.Min(7, outLength - i)));
        return output;
    }

    [Fact]
    public void MatchesPlatformHashes()
    {
        var random = new Random(1);
        foreach (int length in new[] { 0, 1, 71, 72, 73, 135, 136, 137, 167, 168, 169, 500, 1184 })
        {
            byte[] input = new byte[length];
            random.NextBytes(input);
            int chunk = 1 + random.Next(200);
            Assert.Equal(SHA3_256.HashData(input), Sponge(136, 0x06, input, 32, chunk));
            Assert.Equal(SHA3_512.HashData(input), Sponge(72, 0x06, input, 64, chunk));
            Assert.Equal(Shake128.HashData(input, 600), Sponge(168, 0x1F, input, 600, chunk));
            Assert.Equal(Shake256.HashData(input, 300), Sponge(136, 0x1F, input, 300, chunk));
        }
    }
}
