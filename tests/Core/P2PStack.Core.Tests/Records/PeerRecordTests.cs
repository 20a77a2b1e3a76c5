using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Records;
using P2PStack.Tests.Identity;
using static P2PStack.Tests.Records.RecordVectors;

namespace P2PStack.Tests.Records;

public class PeerRecordTests
{
    private static byte[] Hex(string hex) => Convert.FromHexString(hex);

    [Theory]
    [InlineData(KeyVectors.SpecEd25519Private, Ed25519PeerRecordEnvelope, Ed25519PeerId)]
    [InlineData(KeyVectors.SpecSecp256k1Private, Secp256k1PeerRecordEnvelope, Secp256k1PeerId)]
    public void JsLibp2pPeerRecords_OpenAndAreReproducedExactly(string privateHex, string envelopeHex, string peerId)
    {
        var record = PeerRecord.Open(Hex(envelopeHex));
        Assert.Equal(peerId, record.PeerId.ToString());
        Assert.Equal(Seq, record.Seq);
        Assert.Equal([Address1, Address2], record.Addresses.Select(a => a.ToString()));

        using var key = PrivateKey.FromProtobuf(Hex(privateHex));
        var ours = new PeerRecord(PeerId.FromPublicKey(key.PublicKey), Seq, [Multiaddr.Parse(Address1), Multiaddr.Parse(Address2)]);
        Assert.Equal(Hex(envelopeHex), ours.Seal(key).ToBytes());
    }

    [Fact]
    public void Constants_MatchGoLibp2p()
    {
        Assert.Equal("libp2p-peer-record", PeerRecord.Domain);
        Assert.Equal(new byte[] { 0x03, 0x01 }, PeerRecord.PayloadType.ToArray());
    }

    [Theory]
    [InlineData(KeyType.Ed25519)]
    [InlineData(KeyType.Secp256k1)]
    [InlineData(KeyType.Ecdsa)]
    [InlineData(KeyType.Rsa)]
    public void SealOpen_RoundTrips(KeyType type)
    {
        using var key = PrivateKey.Generate(type);
        var record = new PeerRecord(PeerId.FromPublicKey(key.PublicKey), PeerRecord.NextTimestampSeq(), [Multiaddr.Parse("/ip4/127.0.0.1/tcp/4001")]);
        var opened = PeerRecord.Open(record.Seal(key).ToBytes());
        Assert.Equal(record.PeerId, opened.PeerId);
        Assert.Equal(record.Seq, opened.Seq);
        Assert.Equal(record.Addresses, opened.Addresses);
    }

    [Fact]
    public void SealRefusesAKeyThatIsNotTheRecordsPeer()
    {
        using var owner = PrivateKey.Generate();
        using var other = PrivateKey.Generate();
        var record = new PeerRecord(PeerId.FromPublicKey(owner.PublicKey), 1, []);
        Assert.Throws<ArgumentException>(() => record.Seal(other));
    }

    [Fact]
    public void RecordSignedByAnotherPeerIsRejected()
    {
        using var victim = PrivateKey.Generate();
        using var attacker = PrivateKey.Generate();
        var forged = new PeerRecord(PeerId.FromPublicKey(victim.PublicKey), 99, [Multiaddr.Parse("/ip4/6.6.6.6/tcp/1")]);
        // The attacker signs a valid envelope whose payload claims to be the victim's record.
        var envelope = SignedEnvelope.Seal(PeerRecord.Domain, PeerRecord.PayloadType, forged.ToProtobuf(), attacker);
        var error = Assert.Throws<PeerRecordException>(() => PeerRecord.Open(envelope.ToBytes()));
        Assert.Contains("signed by a different peer", error.Message);
    }

    [Fact]
    public void WrongPayloadTypeOrDomainIsRejected()
    {
        using var key = PrivateKey.Generate();
        var record = new PeerRecord(PeerId.FromPublicKey(key.PublicKey), 1, []);
        var wrongType = SignedEnvelope.Seal(PeerRecord.Domain, [0x03, 0x02], record.ToProtobuf(), key);
        Assert.Contains("not a peer record", Assert.Throws<PeerRecordException>(() => PeerRecord.Open(wrongType.ToBytes())).Message);
        var wrongDomain = SignedEnvelope.Seal("libp2p-routing-state", PeerRecord.PayloadType, record.ToProtobuf(), key);
        Assert.Throws<EnvelopeException>(() => PeerRecord.Open(wrongDomain.ToBytes()));
    }

    [Fact]
    public void EmptyAndUndecodableAddressesAreSkipped()
    {
        using var key = PrivateKey.Generate();
        var id = PeerId.FromPublicKey(key.PublicKey);
        var good = Multiaddr.Parse("/ip4/127.0.0.1/tcp/4001");
        var record = new PeerRecord(id, 5, [Multiaddr.Empty, good]);
        Assert.Single(record.Addresses); // never written as a zero-length entry

        var message = new P2PStack.Records.Pb.PeerRecord { PeerId = Google.Protobuf.ByteString.CopyFrom(id.Bytes.Span), Seq = 5 };
        message.Addresses.Add(new P2PStack.Records.Pb.PeerRecord.Types.AddressInfo { Multiaddr = Google.Protobuf.ByteString.Empty });
        message.Addresses.Add(new P2PStack.Records.Pb.PeerRecord.Types.AddressInfo { Multiaddr = Google.Protobuf.ByteString.CopyFrom(0xff, 0xff, 0x7f) }); // unknown protocol
        message.Addresses.Add(new P2PStack.Records.Pb.PeerRecord.Types.AddressInfo { Multiaddr = Google.Protobuf.ByteString.CopyFrom(good.Bytes.Span) });
        var decoded = PeerRecord.FromProtobuf(Google.Protobuf.MessageExtensions.ToByteArray(message));
        Assert.Equal([good], decoded.Addresses);
    }

    [Fact]
    public void InvalidPeerIdInRecordIsRejected()
    {
        var message = new P2PStack.Records.Pb.PeerRecord { PeerId = Google.Protobuf.ByteString.CopyFrom(1, 2, 3), Seq = 1 };
        Assert.Contains("invalid peer id",
            Assert.Throws<PeerRecordException>(() => PeerRecord.FromProtobuf(Google.Protobuf.MessageExtensions.ToByteArray(message))).Message);
    }

    [Fact]
    public void TimestampSeqStrictlyIncreases()
    {
        ulong last = 0;
        for (int i = 0; i < 1000; i++)
        {
            ulong next = PeerRecord.NextTimestampSeq();
            Assert.True(next > last);
            last = next;
        }
    }
}
