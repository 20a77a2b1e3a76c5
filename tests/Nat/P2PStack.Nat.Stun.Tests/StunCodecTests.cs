using System.Net;
using FsCheck;
using FsCheck.Fluent;

namespace P2PStack.Nat.Stun.Tests;

public class StunCodecTests
{
    /// <summary>RFC 5769 section 2.2, "Sample IPv4 Response": SOFTWARE, XOR-MAPPED-ADDRESS 192.0.2.1:32853,
    /// MESSAGE-INTEGRITY, FINGERPRINT.</summary>
    private static readonly byte[] Rfc5769IPv4Response = Convert.FromHexString(
        "0101003c2112a442b7e7a701bc34d686fa87dfae" +
        "8022000b" + "7465737420766563746f7220" +
        "00200008" + "0001a147e112a643" +
        "00080014" + "2b91f599fd9e90c38c7489f92af9ba53f06be7d7" +
        "80280004" + "c07d4c96");

    [Fact]
    public void Rfc5769SampleResponseDecodes()
    {
        var message = StunCodec.Decode(Rfc5769IPv4Response);
        Assert.Equal(StunMessage.BindingMethod, message.Method);
        Assert.Equal(StunClass.SuccessResponse, message.Class);
        Assert.Equal(new IPEndPoint(IPAddress.Parse("192.0.2.1"), 32853), message.MappedAddress);
        Assert.Equal("test vector", message.Software); // 11 bytes, padded with a space on the wire
        Assert.Equal(Convert.FromHexString("b7e7a701bc34d686fa87dfae"), message.TransactionId.ToArray());
    }

    [Theory]
    [InlineData(StunClass.Request, 0x0001)]
    [InlineData(StunClass.Indication, 0x0011)]
    [InlineData(StunClass.SuccessResponse, 0x0101)]
    [InlineData(StunClass.ErrorResponse, 0x0111)]
    public void BindingTypesAreTheRfcValues(StunClass messageClass, int type)
    {
        Assert.Equal(type, StunCodec.EncodeType(StunMessage.BindingMethod, messageClass));
        Assert.Equal((StunMessage.BindingMethod, messageClass), StunCodec.DecodeType((ushort)type));
    }

    [Fact]
    public void MethodBitsInterleaveWithClassBits()
    {
        for (ushort method = 0; method <= 0xFFF; method += 7)
        {
            foreach (var c in Enum.GetValues<StunClass>())
                Assert.Equal((method, c), StunCodec.DecodeType(StunCodec.EncodeType(method, c)));
        }
    }

    [Theory]
    [InlineData("203.0.113.9", 4001)]
    [InlineData("2001:db8::1234:5678", 65535)]
    public void XorMappedAddressRoundTrips(string ip, int port)
    {
        var endpoint = new IPEndPoint(IPAddress.Parse(ip), port);
        byte[] tid = Enumerable.Range(1, 12).Select(i => (byte)i).ToArray();
        byte[] value = new byte[StunAddress.EncodedLength(endpoint)];
        StunAddress.EncodeXor(endpoint, tid, value);
        var message = new StunMessage(StunMessage.BindingMethod, StunClass.SuccessResponse, tid,
            [new StunAttribute(StunAttributeType.XorMappedAddress, value)]);
        var decoded = StunCodec.Decode(StunCodec.Encode(message));
        Assert.Equal(endpoint, decoded.MappedAddress);
        Assert.NotEqual(endpoint.Port, (value[2] << 8) | value[3]); // really xor-ed on the wire
    }

    [Fact]
    public void EncodedMessageEndsWithAValidFingerprint()
    {
        var message = new StunMessage(StunMessage.BindingMethod, StunClass.Request, new byte[12],
            [new StunAttribute(StunAttributeType.Software, "abc"u8.ToArray())]);
        byte[] wire = StunCodec.Encode(message);
        Assert.Equal(20 + 8 + 8, wire.Length); // "abc" padded to 4, then FINGERPRINT
        Assert.Equal(0x80, wire[^8]);
        Assert.Equal(0x28, wire[^7]);
        wire[^1] ^= 1;
        Assert.Throws<StunFormatException>(() => StunCodec.Decode(wire));
    }

    public static TheoryData<string, string> Malformed => new()
    {
        { "short", "0001000021" },
        { "bad cookie", "000100002112a443000000000000000000000000" },
        { "first bits", "c00100002112a442000000000000000000000000" },
        { "length not multiple of 4", "000100022112a442000000000000000000000000abcd" },
        { "length beyond datagram", "000100082112a442000000000000000000000000" },
        { "attribute beyond message", "000100042112a442000000000000000000000000" + "80220008" },
        { "fingerprint not last", "000100102112a442000000000000000000000000" + "8028000400000000" + "8022000400000000" },
        { "truncated xor address", "000100082112a442000000000000000000000000" + "0020000400010000" },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void MalformedMessagesAreRefusedWithStunFormatException(string why, string hex)
    {
        var error = Record.Exception(() =>
        {
            var message = StunCodec.Decode(Convert.FromHexString(hex));
            _ = message.MappedAddress;
        });
        Assert.True(error is StunFormatException, $"{why}: {error?.GetType().Name ?? "no error"}");
    }

    [Fact]
    public void OversizedAndAttributeFloodsAreRefused()
    {
        Assert.Throws<StunFormatException>(() => StunCodec.Decode(new byte[StunCodec.DefaultMaxMessageSize + 4]));
        var flood = new StunMessage(StunMessage.BindingMethod, StunClass.Request, new byte[12],
            [.. Enumerable.Range(0, StunCodec.DefaultMaxAttributes + 1).Select(_ => new StunAttribute(StunAttributeType.Padding, ReadOnlyMemory<byte>.Empty))]);
        Assert.Throws<StunFormatException>(() => StunCodec.Decode(StunCodec.Encode(flood)));
    }

    [Fact]
    public void RandomAndMutatedDatagramsFailOnlyWithStunFormatException()
    {
        Prop.ForAll<byte[]>(bytes => Record.Exception(() => Touch(StunCodec.Decode(bytes))) is null or StunFormatException)
            .QuickCheckThrowOnFailure();
        Prop.ForAll<int, byte>((position, value) =>
        {
            byte[] copy = (byte[])Rfc5769IPv4Response.Clone();
            copy[Math.Abs(position % copy.Length)] ^= value;
            return Record.Exception(() => Touch(StunCodec.Decode(copy))) is null or StunFormatException;
        }).QuickCheckThrowOnFailure();
        for (int length = 0; length < Rfc5769IPv4Response.Length; length++)
        {
            var error = Record.Exception(() => Touch(StunCodec.Decode(Rfc5769IPv4Response.AsSpan(0, length))));
            Assert.IsType<StunFormatException>(error);
        }
    }

    private static void Touch(StunMessage message)
    {
        _ = message.MappedAddress;
        _ = message.OtherAddress;
        _ = message.ResponseOrigin;
        _ = message.Error;
        _ = message.ChangeRequest;
    }
}
