using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Records;

namespace P2PStack.Discovery.SignedLan;

/// <summary>Why an announcement was not used (metric label and log).</summary>
public enum AnnouncementVerdict
{
    Accepted,

    /// <summary>Not an announcement at all (wrong magic or version, oversized).</summary>
    Malformed,

    /// <summary>The envelope or record does not verify: bad signature, wrong domain or payload type, record of
    /// another peer than the signer.</summary>
    Forged,

    /// <summary>A sequence number not above the last one accepted from that peer: a replay or a reordering.</summary>
    Replayed,

    /// <summary>Signed outside the time window around our clock.</summary>
    Stale,

    /// <summary>Our own announcement, looped back.</summary>
    Own,

    /// <summary>Too many peers announce at once; this one is not tracked.</summary>
    TrackingFull,

    /// <summary>The security level's discovery policy refused the peer.</summary>
    Refused,
}

/// <summary>
/// The announcement datagram: the magic <c>"p2pLAN"</c>, version byte 1, then a signed envelope (RFC 0002, domain
/// <c>libp2p-peer-record</c>) holding the sender's peer record (RFC 0003) whose sequence number is its signing time
/// in Unix nanoseconds. Pure encoding and checks; the service keeps the per-peer state.
/// </summary>
public static class LanAnnouncement
{
    public const byte Version = 1;
    private static ReadOnlySpan<byte> Magic => "p2pLAN"u8;

    /// <summary>The header length before the envelope.</summary>
    public static int HeaderLength => Magic.Length + 1;

    /// <summary>The sequence number of a record signed at <paramref name="time"/>: Unix nanoseconds.</summary>
    public static ulong SequenceAt(DateTimeOffset time) => (ulong)Math.Max(0, time.ToUnixTimeMilliseconds()) * 1_000_000UL;

    /// <summary>Signs a record of <paramref name="addresses"/> signed at <paramref name="signedAt"/>.</summary>
    public static byte[] Create(PrivateKey key, IEnumerable<Multiaddr> addresses, DateTimeOffset signedAt) =>
        Create(key, addresses, SequenceAt(signedAt));

    /// <summary>Signs a record of <paramref name="addresses"/> with sequence number <paramref name="seq"/>.</summary>
    public static byte[] Create(PrivateKey key, IEnumerable<Multiaddr> addresses, ulong seq)
    {
        var record = new PeerRecord(PeerId.FromPublicKey(key.PublicKey), seq, addresses);
        byte[] envelope = record.Seal(key).ToBytes();
        var datagram = new byte[HeaderLength + envelope.Length];
        Magic.CopyTo(datagram);
        datagram[Magic.Length] = Version;
        envelope.CopyTo(datagram.AsSpan(HeaderLength));
        return datagram;
    }

    /// <summary>
    /// Checks framing, signature, record and time window (not the sequence against earlier ones: that is state).
    /// </summary>
    public static AnnouncementVerdict Verify(ReadOnlySpan<byte> datagram, DateTimeOffset now, TimeSpan window, int maxSize,
        out PeerRecord? record)
    {
        record = null;
        if (datagram.Length > maxSize || datagram.Length <= HeaderLength || !datagram.StartsWith(Magic) || datagram[Magic.Length] != Version)
            return AnnouncementVerdict.Malformed;
        try
        {
            record = PeerRecord.Open(datagram[HeaderLength..], maxSize);
        }
        catch (P2PFormatException)
        {
            return AnnouncementVerdict.Forged;
        }
        // The sequence number is the signing time: outside the window, it is old (a replay from long ago) or forged
        // ahead (to outlast later records).
        long nowNs = now.ToUnixTimeMilliseconds() * 1_000_000L;
        long windowNs = (long)(window.TotalMilliseconds * 1_000_000L);
        if (record.Seq > long.MaxValue || Math.Abs((long)record.Seq - nowNs) > windowNs) return AnnouncementVerdict.Stale;
        return AnnouncementVerdict.Accepted;
    }
}
