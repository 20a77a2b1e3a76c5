using System.Security.Cryptography;

namespace P2PStack.Protocols.Kademlia.Tests;

public class KadKeyTests
{
    [Fact]
    public void PeerKeyIsSha256OfTheBinaryPeerId()
    {
        var peer = TestPeers.Random();
        Assert.Equal(SHA256.HashData(peer.Bytes.Span), KadKey.FromPeer(peer).ToBytes());
    }

    [Fact]
    public void RecordKeyIsSha256OfTheKeyBytes()
    {
        byte[] key = "/pk/hello"u8.ToArray();
        Assert.Equal(SHA256.HashData(key), KadKey.FromKey(key).ToBytes());
    }

    [Fact]
    public void CommonPrefixLengthCountsSharedLeadingBits()
    {
        var zero = KadKey.FromHash(new byte[32]);
        for (int bit = 0; bit < 256; bit++)
        {
            var bytes = new byte[32];
            bytes[bit / 8] = (byte)(0x80 >> (bit % 8));
            Assert.Equal(bit, zero.CommonPrefixLength(KadKey.FromHash(bytes)));
        }
        Assert.Equal(256, zero.CommonPrefixLength(zero));
    }

    [Fact]
    public void DistanceIsASymmetricMetricOrderedAsBigEndianNumbers()
    {
        var random = new Random(7);
        for (int i = 0; i < 500; i++)
        {
            var a = RandomKey(random);
            var b = RandomKey(random);
            var c = RandomKey(random);
            Assert.Equal(a.Xor(b), b.Xor(a));
            Assert.Equal(0, a.Xor(a).CompareTo(KadKey.FromHash(new byte[32])));
            // Unique closest: distinct points are at distinct distances from any target.
            if (b != c) Assert.NotEqual(0, a.CompareDistance(b, c));
            // Ordering agrees with comparing the XOR byte strings lexicographically.
            int expected = a.Xor(b).ToBytes().AsSpan().SequenceCompareTo(a.Xor(c).ToBytes());
            Assert.Equal(Math.Sign(expected), Math.Sign(a.CompareDistance(b, c)));
        }
    }

    [Fact]
    public void RandomPeerIdWithCommonPrefixLandsInTheBucket()
    {
        var local = TestPeers.Random();
        for (int cpl = 0; cpl <= 12; cpl++)
        {
            var peer = TestPeers.WithCpl(local, cpl);
            Assert.Equal(cpl, KadKey.FromPeer(peer).CommonPrefixLength(KadKey.FromPeer(local)));
        }
    }

    private static KadKey RandomKey(Random random)
    {
        var bytes = new byte[32];
        random.NextBytes(bytes);
        return KadKey.FromHash(bytes);
    }
}
