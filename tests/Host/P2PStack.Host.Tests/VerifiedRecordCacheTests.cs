using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Protocols.Identify;
using P2PStack.Records;

namespace P2PStack.Host.Tests;

/// <summary>Identify's cache of verified signed peer records: reused only for the same peer and the very same bytes.</summary>
public class VerifiedRecordCacheTests
{
    private static (PeerId Peer, byte[] Encoded, SignedEnvelope Envelope, PeerRecord Record) Sealed(PrivateKey key, ulong seq)
    {
        var peer = PeerId.FromPublicKey(key.PublicKey);
        var record = new PeerRecord(peer, seq, [Multiaddr.Parse("/ip4/192.0.2.1/tcp/4001")]);
        var envelope = record.Seal(key);
        return (peer, envelope.ToBytes(), envelope, record);
    }

    [Fact]
    public void The_same_bytes_from_the_same_peer_are_found()
    {
        var cache = new VerifiedRecordCache(8);
        var (peer, encoded, envelope, record) = Sealed(PrivateKey.Generate(KeyType.Ed25519), 1);
        cache.Add(peer, encoded, envelope, record);
        Assert.True(cache.TryGet(peer, encoded, out var found, out var foundRecord));
        Assert.Same(envelope, found);
        Assert.Same(record, foundRecord);
    }

    [Fact]
    public void Other_bytes_or_another_peer_are_verified_again()
    {
        var cache = new VerifiedRecordCache(8);
        var key = PrivateKey.Generate(KeyType.Ed25519);
        var (peer, encoded, envelope, record) = Sealed(key, 1);
        cache.Add(peer, encoded, envelope, record);

        byte[] tampered = (byte[])encoded.Clone();
        tampered[^1] ^= 0x01; // the signature's last byte
        Assert.False(cache.TryGet(peer, tampered, out _, out _));
        Assert.False(cache.TryGet(peer, Sealed(key, 2).Encoded, out _, out _)); // a newer record
        var other = PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey);
        Assert.False(cache.TryGet(other, encoded, out _, out _)); // someone else replaying it
    }

    [Fact]
    public void A_newer_record_replaces_the_one_kept()
    {
        var cache = new VerifiedRecordCache(8);
        var key = PrivateKey.Generate(KeyType.Ed25519);
        var first = Sealed(key, 1);
        var second = Sealed(key, 2);
        cache.Add(first.Peer, first.Encoded, first.Envelope, first.Record);
        cache.Add(second.Peer, second.Encoded, second.Envelope, second.Record);
        Assert.Equal(1, cache.Count);
        Assert.False(cache.TryGet(first.Peer, first.Encoded, out _, out _));
        Assert.True(cache.TryGet(second.Peer, second.Encoded, out _, out _));
    }

    [Fact]
    public void It_keeps_at_most_its_capacity_dropping_the_oldest()
    {
        var cache = new VerifiedRecordCache(3);
        var entries = Enumerable.Range(0, 5).Select(_ => Sealed(PrivateKey.Generate(KeyType.Ed25519), 1)).ToList();
        foreach (var (peer, encoded, envelope, record) in entries) cache.Add(peer, encoded, envelope, record);
        Assert.Equal(3, cache.Count);
        Assert.False(cache.TryGet(entries[0].Peer, entries[0].Encoded, out _, out _));
        Assert.False(cache.TryGet(entries[1].Peer, entries[1].Encoded, out _, out _));
        Assert.True(cache.TryGet(entries[4].Peer, entries[4].Encoded, out _, out _));
    }

    [Fact]
    public void Large_envelopes_and_a_zero_capacity_keep_nothing()
    {
        var (peer, encoded, envelope, record) = Sealed(PrivateKey.Generate(KeyType.Ed25519), 1);
        var disabled = new VerifiedRecordCache(0);
        disabled.Add(peer, encoded, envelope, record);
        Assert.False(disabled.TryGet(peer, encoded, out _, out _));

        var cache = new VerifiedRecordCache(8);
        byte[] large = new byte[VerifiedRecordCache.MaxCachedEnvelope + 1];
        cache.Add(peer, large, envelope, record);
        Assert.Equal(0, cache.Count);
    }
}
