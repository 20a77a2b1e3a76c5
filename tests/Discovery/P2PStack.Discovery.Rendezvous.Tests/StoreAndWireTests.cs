using Google.Protobuf;
using P2PStack.Discovery.Rendezvous.Pb;
using P2PStack.Identity;
using Status = P2PStack.Discovery.Rendezvous.Pb.Message.Types.ResponseStatus;
using MessageType = P2PStack.Discovery.Rendezvous.Pb.Message.Types.MessageType;

namespace P2PStack.Discovery.Rendezvous.Tests;

public sealed class StoreAndWireTests
{
    private sealed class Clock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;

        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public void Registrations_expire_at_their_TTL_and_a_renewal_extends_them()
    {
        var clock = new Clock(DateTimeOffset.UnixEpoch.AddDays(1));
        var store = new RegistrationStore(new RendezvousServerOptions(), clock);
        var a = PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey);
        var b = PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey);
        Assert.Equal(Status.Ok, store.Register("ns", a, [1], TimeSpan.FromMinutes(5)).Status);
        Assert.Equal(Status.Ok, store.Register("ns", b, [2], TimeSpan.FromMinutes(10)).Status);
        clock.Now += TimeSpan.FromMinutes(4);
        Assert.Equal(Status.Ok, store.Register("ns", a, [1], TimeSpan.FromMinutes(5)).Status); // renewed: now until 9 min
        clock.Now += TimeSpan.FromMinutes(4); // 8 min
        Assert.Equal(2, store.Discover("ns", 10, []).Registrations.Count);
        clock.Now += TimeSpan.FromMinutes(1.5); // 9.5 min
        Assert.Equal([b], store.Discover("ns", 10, []).Registrations.Select(r => r.Peer));
        clock.Now += TimeSpan.FromMinutes(1); // 10.5 min
        Assert.Empty(store.Discover("ns", 10, []).Registrations);
        Assert.Equal(0, store.Count);
        Assert.Equal(0, store.CountOf(a));
    }

    [Fact]
    public void The_total_limit_refuses_with_E_UNAVAILABLE()
    {
        var store = new RegistrationStore(new RendezvousServerOptions { MaxRegistrations = 2 }, TimeProvider.System);
        for (int i = 0; i < 2; i++)
            Assert.Equal(Status.Ok, store.Register($"n{i}", PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey), [1], TimeSpan.FromHours(1)).Status);
        var third = store.Register("n", PeerId.FromPublicKey(PrivateKey.Generate(KeyType.Ed25519).PublicKey), [1], TimeSpan.FromHours(1));
        Assert.Equal(Status.EUnavailable, third.Status);
    }

    // The spec's message, field by field (libp2p/specs rendezvous/README.md, "Protobuf"): the bytes a go peer writes
    // for REGISTER{ns "ns", signedPeerRecord 0xAA 0xBB, ttl 7200}: type = REGISTER (0) is written, as proto2 does.
    [Fact]
    public void A_register_message_encodes_field_for_field_as_the_spec_defines_it()
    {
        var message = new Message
        {
            Type = MessageType.Register,
            Register = new Message.Types.Register { Ns = "ns", SignedPeerRecord = ByteString.CopyFrom(0xAA, 0xBB), Ttl = 7200 },
        };
        byte[] expected =
        [
            0x08, 0x00,                   // field 1 (type), varint: REGISTER = 0
            0x12, 0x0A,                   // field 2 (register), 10 bytes
            0x0A, 0x02, (byte)'n', (byte)'s', // ns
            0x12, 0x02, 0xAA, 0xBB,       // signedPeerRecord
            0x18, 0xA0, 0x38,             // ttl 7200 (varint A0 38)
        ];
        expected[3] = (byte)(expected.Length - 4);
        Assert.Equal(Convert.ToHexString(expected), Convert.ToHexString(message.ToByteArray()));

        var ok = new Message { Type = MessageType.RegisterResponse, RegisterResponse = new Message.Types.RegisterResponse { Status = Status.Ok, Ttl = 7200 } };
        // type 1, field 3 { status OK written explicitly, ttl 7200 }
        Assert.Equal("0801" + "1A05" + "0800" + "18A038", Convert.ToHexString(ok.ToByteArray()));

        Assert.Equal(MessageType.Register, RendezvousProtocol.Parse([]).Type); // an empty message decodes to its defaults
        var invalidTtl = RendezvousProtocol.Parse(Convert.FromHexString("0801" + "1A02" + "0866"));
        Assert.Equal(Status.EInvalidTtl, invalidTtl.RegisterResponse.Status); // 102 = 0x66

        var discover = new Message { Type = MessageType.Discover, Discover = new Message.Types.Discover { Ns = "ns", Limit = 10, Cookie = ByteString.CopyFrom(1, 2) } };
        Assert.Equal("0803" + "2A0A" + "0A026E73" + "100A" + "1A020102", Convert.ToHexString(discover.ToByteArray()));
        Assert.Throws<RendezvousFormatException>(() => RendezvousProtocol.Parse([0x12, 0x05, 0x0A]));
    }
}
