using Google.Protobuf;
using P2PStack.Addressing;
using P2PStack.Identity;

namespace P2PStack.Records;

/// <summary>
/// A peer's signed statement of its addresses (RFC 0003), carried in a <see cref="SignedEnvelope"/> with domain
/// <see cref="Domain"/> and payload type 0x03 0x01. A higher <see cref="Seq"/> supersedes a lower one.
/// </summary>
public sealed class PeerRecord
{
    /// <summary>Signing domain of peer records.</summary>
    public const string Domain = "libp2p-peer-record";

    /// <summary>Envelope payload type of peer records: the libp2p-peer-record multicodec 0x0301, as go-libp2p writes it.</summary>
    public static ReadOnlySpan<byte> PayloadType => [0x03, 0x01];

    private static long s_lastTimestampSeq;

    /// <summary>Creates a record; empty multiaddrs are left out (they would encode as zero bytes).</summary>
    public PeerRecord(PeerId peerId, ulong seq, IEnumerable<Multiaddr> addresses)
    {
        ArgumentNullException.ThrowIfNull(peerId);
        ArgumentNullException.ThrowIfNull(addresses);
        PeerId = peerId;
        Seq = seq;
        Addresses = addresses.Where(a => a is not null && !a.IsEmpty).ToArray();
    }

    public PeerId PeerId { get; }

    public ulong Seq { get; }

    public IReadOnlyList<Multiaddr> Addresses { get; }

    /// <summary>A strictly increasing sequence number from the wall clock (Unix nanoseconds), as go-libp2p uses.</summary>
    public static ulong NextTimestampSeq()
    {
        while (true)
        {
            long last = Volatile.Read(ref s_lastTimestampSeq);
            long now = (DateTime.UtcNow.Ticks - DateTime.UnixEpoch.Ticks) * 100;
            long next = Math.Max(now, last + 1);
            if (Interlocked.CompareExchange(ref s_lastTimestampSeq, next, last) == last) return (ulong)next;
        }
    }

    /// <summary>The record payload protobuf.</summary>
    public byte[] ToProtobuf()
    {
        var message = new Pb.PeerRecord { PeerId = ByteString.CopyFrom(PeerId.Bytes.Span), Seq = Seq };
        foreach (var address in Addresses)
            message.Addresses.Add(new Pb.PeerRecord.Types.AddressInfo { Multiaddr = ByteString.CopyFrom(address.Bytes.Span) });
        return message.ToByteArray();
    }

    /// <summary>
    /// Decodes a record payload. Addresses this build cannot decode (an unknown protocol, say) are skipped rather
    /// than failing the whole record, as go-libp2p does; the signature covers them regardless.
    /// </summary>
    /// <exception cref="PeerRecordException">Malformed protobuf or peer id.</exception>
    public static PeerRecord FromProtobuf(ReadOnlySpan<byte> payload)
    {
        Pb.PeerRecord message;
        try { message = Pb.PeerRecord.Parser.ParseFrom(payload); }
        catch (InvalidProtocolBufferException e) { throw new PeerRecordException($"peer record is not a valid protobuf: {e.Message}", e); }
        PeerId peerId;
        try { peerId = PeerId.FromBytes(message.PeerId.Span); }
        catch (PeerIdException e) { throw new PeerRecordException($"peer record has an invalid peer id: {e.Message}", e); }
        var addresses = new List<Multiaddr>(message.Addresses.Count);
        foreach (var info in message.Addresses)
            if (Multiaddr.TryDecode(info.Multiaddr.Span, out var address) && !address.IsEmpty) addresses.Add(address);
        return new PeerRecord(peerId, message.Seq, addresses);
    }

    /// <summary>Signs this record into an envelope.</summary>
    /// <exception cref="ArgumentException"><paramref name="key"/> is not the key of <see cref="PeerId"/>.</exception>
    public SignedEnvelope Seal(PrivateKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (!PeerId.Matches(key.PublicKey))
            throw new ArgumentException($"the key's peer id {PeerId.FromPublicKey(key.PublicKey)} is not the record's peer id {PeerId}", nameof(key));
        return SignedEnvelope.Seal(Domain, PayloadType, ToProtobuf(), key);
    }

    /// <summary>Extracts the record from a verified envelope, checking its payload type and that its signer is the record's peer.</summary>
    /// <exception cref="PeerRecordException">Wrong payload type, malformed record, or signed by another peer.</exception>
    public static PeerRecord FromEnvelope(SignedEnvelope envelope)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        if (!envelope.PayloadType.Span.SequenceEqual(PayloadType))
            throw new PeerRecordException($"envelope payload type {Convert.ToHexString(envelope.PayloadType.Span)} is not a peer record (0301)");
        var record = FromProtobuf(envelope.Payload.Span);
        if (!record.PeerId.Matches(envelope.PublicKey))
            throw new PeerRecordException($"peer record for {record.PeerId} is signed by a different peer, {envelope.Signer}");
        return record;
    }

    /// <summary>Opens and verifies a peer record envelope (domain <see cref="Domain"/>).</summary>
    /// <exception cref="EnvelopeException">The envelope is malformed, oversized or its signature does not verify.</exception>
    /// <exception cref="PeerRecordException">The payload is not a valid peer record of the signer.</exception>
    public static PeerRecord Open(ReadOnlySpan<byte> envelopeBytes, int maxSize = SignedEnvelope.DefaultMaxSize) =>
        FromEnvelope(SignedEnvelope.Open(envelopeBytes, Domain, maxSize));

    public override string ToString() => $"PeerRecord {PeerId} seq {Seq} [{string.Join(", ", Addresses)}]";
}
