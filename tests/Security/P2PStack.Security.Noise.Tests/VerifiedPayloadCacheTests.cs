using P2PStack.Conformance.Security;

namespace P2PStack.Security.Noise.Tests;

/// <summary>The cache of verified remote signatures looked up without allocating (its behaviour: NoiseKeyCacheTests).</summary>
public class VerifiedPayloadCacheTests
{
    [Theory]
    [InlineData(32)] // an Ed25519 identity key: the lookup key on the stack
    [InlineData(600)] // a large (RSA-sized) identity key: in a pooled buffer
    public void A_lookup_allocates_nothing_and_finds_only_the_same_three_byte_strings(int identityKeyLength)
    {
        var cache = new VerifiedPayloadCache();
        var identity = TestIdentity.Generate();
        byte[] identityKey = System.Security.Cryptography.RandomNumberGenerator.GetBytes(identityKeyLength);
        byte[] staticKey = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);
        byte[] signature = System.Security.Cryptography.RandomNumberGenerator.GetBytes(64);
        cache.Add(identityKey, staticKey, signature, 16, identity.PrivateKey.PublicKey, identity.PeerId);
        byte[] otherSignature = [.. signature];
        otherSignature[^1] ^= 1;

        Assert.True(cache.TryGet(identityKey, staticKey, signature, 16, out var key, out var peer));
        Assert.Equal(identity.PeerId, peer);
        Assert.Same(identity.PrivateKey.PublicKey, key);
        Assert.False(cache.TryGet(identityKey, staticKey, otherSignature, 16, out _, out _));
        // The same bytes split differently between the three are another entry (the lengths are part of the key).
        Assert.False(cache.TryGet(identityKey.AsSpan(0, identityKeyLength - 1), [identityKey[^1], .. staticKey], signature, 16, out _, out _));

        long before = GC.GetAllocatedBytesForCurrentThread();
        int hits = 0;
        for (int i = 0; i < 100; i++)
        {
            if (cache.TryGet(identityKey, staticKey, signature, 16, out _, out _)) hits++;
            if (cache.TryGet(identityKey, staticKey, otherSignature, 16, out _, out _)) hits++;
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(100, hits);
    }
}
