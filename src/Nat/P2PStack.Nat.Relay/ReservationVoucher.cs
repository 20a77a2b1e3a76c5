using Google.Protobuf;
using P2PStack.Identity;
using P2PStack.Records;

namespace P2PStack.Nat.Relay;

/// <summary>
/// A reservation voucher (circuit v2 spec, "Reservation Vouchers"): a signed envelope of the relay over
/// <c>Voucher { relay, peer, expiration }</c>, domain <c>libp2p-relay-rsvp</c>, payload type 0x0302.
/// </summary>
public sealed record ReservationVoucher(PeerId Relay, PeerId Peer, DateTimeOffset Expiration)
{
    public const string Domain = "libp2p-relay-rsvp";

    public static ReadOnlySpan<byte> PayloadType => [0x03, 0x02];

    /// <summary>Seals the voucher with the relay's key (which must be <see cref="Relay"/>'s).</summary>
    public byte[] Seal(PrivateKey relayKey)
    {
        if (!PeerId.FromPublicKey(relayKey.PublicKey).Equals(Relay)) throw new ArgumentException("the key is not the relay's", nameof(relayKey));
        var payload = new Pb.Voucher
        {
            Relay = ByteString.CopyFrom(Relay.Bytes.Span),
            Peer = ByteString.CopyFrom(Peer.Bytes.Span),
            Expiration = (ulong)Expiration.ToUnixTimeSeconds(),
        };
        return SignedEnvelope.Seal(Domain, PayloadType, payload.ToByteArray(), relayKey).ToBytes();
    }

    /// <summary>Opens and checks a voucher: signed by <paramref name="relay"/>, for <paramref name="peer"/>.</summary>
    /// <exception cref="RelayFormatException">Malformed, badly signed, another relay's, or for another peer.</exception>
    public static ReservationVoucher Open(ReadOnlySpan<byte> encoded, PeerId relay, PeerId peer)
    {
        SignedEnvelope envelope;
        try
        {
            envelope = SignedEnvelope.Open(encoded, Domain, 4096);
        }
        catch (P2PFormatException ex)
        {
            throw new RelayFormatException($"reservation voucher: {ex.Message}", ex);
        }
        if (!envelope.PayloadType.Span.SequenceEqual(PayloadType)) throw new RelayFormatException("reservation voucher: wrong payload type");
        Pb.Voucher voucher;
        try
        {
            voucher = Pb.Voucher.Parser.ParseFrom(envelope.Payload.Span);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new RelayFormatException($"reservation voucher payload: {ex.Message}", ex);
        }
        if (!voucher.HasRelay || !voucher.HasPeer || !voucher.HasExpiration) throw new RelayFormatException("reservation voucher: a field is missing");
        if (!PeerIds.TryFromBytes(voucher.Relay.Span, out var signedRelay) || !PeerIds.TryFromBytes(voucher.Peer.Span, out var signedPeer))
            throw new RelayFormatException("reservation voucher: invalid peer id");
        if (!signedRelay!.Equals(relay) || !envelope.Signer.Equals(relay))
            throw new RelayFormatException($"reservation voucher: not signed by the relay {relay}");
        if (!signedPeer!.Equals(peer)) throw new RelayFormatException($"reservation voucher: issued to {signedPeer}, not {peer}");
        if (voucher.Expiration > (ulong)DateTimeOffset.MaxValue.ToUnixTimeSeconds()) throw new RelayFormatException("reservation voucher: expiration out of range");
        return new ReservationVoucher(relay, peer, DateTimeOffset.FromUnixTimeSeconds((long)voucher.Expiration));
    }
}
