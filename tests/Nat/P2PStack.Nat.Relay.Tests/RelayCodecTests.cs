using Google.Protobuf;
using Microsoft.Extensions.Options;
using NSubstitute;
using P2PStack.Identity;
using P2PStack.Nat.Relay.Pb;
using P2PStack.Network;

namespace P2PStack.Nat.Relay.Tests;

public class RelayCodecTests
{
    private static readonly PrivateKey RelayKey = PrivateKey.Generate(KeyType.Ed25519);
    private static readonly PeerId Relay = PeerId.FromPublicKey(RelayKey.PublicKey);
    private static readonly PrivateKey MeKey = PrivateKey.Generate(KeyType.Ed25519);
    private static readonly PeerId Me = PeerId.FromPublicKey(MeKey.PublicKey);

    [Fact]
    public void VoucherPayloadIsCanonicalAndVerifies()
    {
        var expire = DateTimeOffset.FromUnixTimeSeconds(1_900_000_000);
        byte[] sealed_ = new ReservationVoucher(Relay, Me, expire).Seal(RelayKey);
        var opened = ReservationVoucher.Open(sealed_, Relay, Me);
        Assert.Equal(expire, opened.Expiration);
        var envelope = Records.SignedEnvelope.Open(sealed_, ReservationVoucher.Domain);
        Assert.Equal(new byte[] { 0x03, 0x02 }, envelope.PayloadType.ToArray());
        // fields in id order, nothing else: 0a <relay> 12 <peer> 18 <varint>
        byte[] payload = envelope.Payload.ToArray();
        Assert.Equal(0x0a, payload[0]);
        Assert.Equal(0x12, payload[2 + Relay.Bytes.Length]);
        Assert.Equal(0x18, payload[4 + Relay.Bytes.Length + Me.Bytes.Length]);
    }

    [Fact]
    public void VoucherOfAnotherRelayOrForAnotherPeerIsRefused()
    {
        var other = PrivateKey.Generate(KeyType.Ed25519);
        var otherId = PeerId.FromPublicKey(other.PublicKey);
        byte[] byOther = new ReservationVoucher(otherId, Me, DateTimeOffset.UtcNow.AddHours(1)).Seal(other);
        Assert.Throws<RelayFormatException>(() => ReservationVoucher.Open(byOther, Relay, Me));
        byte[] forOther = new ReservationVoucher(Relay, otherId, DateTimeOffset.UtcNow.AddHours(1)).Seal(RelayKey);
        Assert.Throws<RelayFormatException>(() => ReservationVoucher.Open(forOther, Relay, Me));
        Assert.Throws<RelayFormatException>(() => ReservationVoucher.Open([1, 2, 3], Relay, Me));
    }

    private static RelayClient Client(RelayMetrics? metrics = null)
    {
        var host = Substitute.For<IPeerHost>();
        host.PeerId.Returns(Me);
        return new RelayClient(host, Options.Create(new RelayClientOptions()), metrics);
    }

    private static HopMessage Answer(DateTimeOffset expire, byte[]? voucher = null, Limit? limit = null)
    {
        var message = new HopMessage
        {
            Type = HopMessage.Types.Type.Status,
            Status = Status.Ok,
            Reservation = new Reservation { Expire = (ulong)expire.ToUnixTimeSeconds() },
        };
        if (voucher is not null) message.Reservation.Voucher = ByteString.CopyFrom(voucher);
        if (limit is not null) message.Limit = limit;
        message.Reservation.Addrs.Add(ByteString.CopyFrom(Addressing.Multiaddr.Parse("/ip4/11.0.0.9/tcp/4001").Bytes.Span));
        message.Reservation.Addrs.Add(ByteString.CopyFrom(Addressing.Multiaddr.Parse($"/ip4/11.0.0.9/tcp/4002/p2p/{Me}").Bytes.Span));
        return message;
    }

    [Fact]
    public void ReservationThatExpiresAtOnceIsALie()
    {
        using var capture = new Testing.MetricCapture(RelayMetrics.MeterName);
        var error = Assert.Throws<RelayFormatException>(() => Client(new RelayMetrics()).Parse(Relay, Answer(DateTimeOffset.UtcNow.AddSeconds(5))));
        Assert.Contains("expires", error.Message);
        Assert.Equal(1, capture.Sum("p2pstack_relay_client_errors_total", "kind=short_reservation"));
    }

    [Fact]
    public void ReservationAddressesAreTheRelaysOnly()
    {
        var reservation = Client().Parse(Relay, Answer(DateTimeOffset.UtcNow.AddHours(1)));
        var address = Assert.Single(reservation.Addresses); // the one naming another peer is dropped
        Assert.Equal($"/ip4/11.0.0.9/tcp/4001/p2p/{Relay}", address.ToString());
    }

    [Fact]
    public void BadVoucherFailsTheReservation()
    {
        byte[] forged = new ReservationVoucher(Relay, Me, DateTimeOffset.UtcNow.AddHours(1)).Seal(RelayKey);
        forged[^1] ^= 1;
        using var capture = new Testing.MetricCapture(RelayMetrics.MeterName);
        Assert.Throws<RelayFormatException>(() => Client(new RelayMetrics()).Parse(Relay, Answer(DateTimeOffset.UtcNow.AddHours(1), forged)));
        Assert.Equal(1, capture.Sum("p2pstack_relay_client_errors_total", "kind=bad_voucher"));
    }

    [Theory]
    [InlineData(120u, 120_000.0)]        // the spec: seconds
    [InlineData(120_000u, 120_000.0)]    // js-libp2p 3 (circuit-relay-v2 4.x): milliseconds
    [InlineData(86_400u, 86_400_000.0)]  // a day in seconds is still seconds
    public void LimitDurationIsSecondsUnlessItCanOnlyBeMilliseconds(uint wire, double expectedMs)
    {
        var limit = RelayLimit.FromWire(new Limit { Duration = wire, Data = 1 << 17 }, 86_400);
        Assert.Equal(TimeSpan.FromMilliseconds(expectedMs), limit.Duration);
        Assert.Equal(1 << 17, limit.Data);
        Assert.True(RelayLimit.FromWire(new Limit { Duration = 0, Data = 0 }, 86_400).IsUnlimited);
        Assert.True(RelayLimit.FromWire(null, 86_400).IsUnlimited);
    }

    [Fact]
    public void OurLimitGoesOutInSeconds()
    {
        var wire = new RelayLimit(TimeSpan.FromMinutes(2), 4096).ToWire()!;
        Assert.Equal(120u, wire.Duration);
        Assert.Equal(4096ul, wire.Data);
        Assert.Null(RelayLimit.None.ToWire());
    }
}
