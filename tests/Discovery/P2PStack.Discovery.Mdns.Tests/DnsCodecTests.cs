using System.Net;
using P2PStack.Discovery.Mdns.Dns;

namespace P2PStack.Discovery.Mdns.Tests;

public class DnsCodecTests
{
    [Fact]
    public void DecodesTheJsQuery()
    {
        var message = DnsMessageReader.Read(TestPackets.JsQuery);
        Assert.False(message.IsResponse);
        Assert.Equal(0, message.Id);
        var question = Assert.Single(message.Questions);
        Assert.Equal("_p2p._udp.local", question.Name);
        Assert.Equal(DnsRecordType.Ptr, question.Type);
        Assert.Equal(DnsClass.Internet, question.Class);
        Assert.False(question.UnicastResponse);
        Assert.Empty(message.Answers);
    }

    [Fact]
    public void DecodesTheJsResponse()
    {
        var info = TestPackets.JsResponseInfo;
        string instance = info.GetProperty("peerName").GetString() + "._p2p._udp.local";
        var message = DnsMessageReader.Read(TestPackets.JsResponse);
        Assert.True(message.IsResponse);
        Assert.Equal(DnsMessage.ResponseFlag | DnsMessage.AuthoritativeFlag, message.Flags);
        Assert.Equal(4, message.Answers.Count);
        var ptr = message.Answers[0];
        Assert.Equal(("_p2p._udp.local", DnsRecordType.Ptr, 120u), (ptr.Name, ptr.Type, ptr.Ttl));
        Assert.Equal(instance, Assert.IsType<DnsPtrData>(ptr.Data).Target);
        var texts = message.Answers.Skip(1).Select(r =>
        {
            Assert.Equal(instance, r.Name);
            return System.Text.Encoding.UTF8.GetString(Assert.Single(Assert.IsType<DnsTxtData>(r.Data).Strings));
        });
        Assert.Equal(info.GetProperty("addresses").EnumerateArray().Select(a => "dnsaddr=" + a.GetString()), texts);
    }

    [Fact]
    public void JsPacketsReencodeByteForByteWithoutCompressionOpportunities()
    {
        // js writes no compression; our writer compresses, so the response shrinks yet decodes to the same message.
        var query = DnsMessageReader.Read(TestPackets.JsQuery);
        Assert.Equal(TestPackets.JsQuery, DnsMessageWriter.Write(query));
        var response = DnsMessageReader.Read(TestPackets.JsResponse);
        byte[] ours = DnsMessageWriter.Write(response);
        Assert.True(ours.Length < TestPackets.JsResponse.Length - 150, $"{ours.Length} bytes");
        AssertSame(response, DnsMessageReader.Read(ours));
    }

    [Fact]
    public void RoundTripsEveryRecordType()
    {
        var message = new DnsMessage(0x1234, DnsMessage.ResponseFlag,
            [new DnsQuestion("a\\.b.example.local", DnsRecordType.Any, DnsClass.Any, UnicastResponse: true)],
            [
                new DnsRecord("_p2p._udp.local", DnsRecordType.Ptr, 120, new DnsPtrData("peer._p2p._udp.local")),
                new DnsRecord("peer._p2p._udp.local", DnsRecordType.Txt, 120, new DnsTxtData([[], "dnsaddr=/ip4/1.2.3.4/tcp/1"u8.ToArray()]), CacheFlush: true),
            ],
            [new DnsRecord("peer._p2p._udp.local", DnsRecordType.Srv, 5, new DnsSrvData(1, 2, 4001, "peer.local"))],
            [
                new DnsRecord("peer.local", DnsRecordType.A, 7, new DnsAddressData(IPAddress.Parse("192.0.2.1")), CacheFlush: true),
                new DnsRecord("peer.local", DnsRecordType.Aaaa, 7, new DnsAddressData(IPAddress.Parse("fd00::1"))),
                new DnsRecord("", (DnsRecordType)41, 0, new DnsRawData([1, 2, 3]), Class: 1232),
                new DnsRecord("ünïcode.local", DnsRecordType.Txt, 1, new DnsTxtData([])),
            ]);
        var decoded = DnsMessageReader.Read(DnsMessageWriter.Write(message));
        Assert.Equal(message.Questions, decoded.Questions);
        Assert.Equal(new DnsTxtData([[]]).Strings.Count, Assert.IsType<DnsTxtData>(decoded.Additionals[3].Data).Strings.Count);
        AssertSame(message with { Additionals = [.. message.Additionals.Take(3)] },
            decoded with { Additionals = [.. decoded.Additionals.Take(3)] });
    }

    [Fact]
    public void CompressesRepeatedSuffixesIncludingInsideRecordData()
    {
        var message = DnsMessage.Response(
            [new DnsRecord("_p2p._udp.local", DnsRecordType.Ptr, 120, new DnsPtrData("peer._p2p._udp.local"))],
            [new DnsRecord("peer._p2p._udp.local", DnsRecordType.Srv, 120, new DnsSrvData(0, 0, 1, "peer.local"))]);
        byte[] packet = DnsMessageWriter.Write(message);
        // header 12 + name 17 + 10 + ptr data (label "peer" + pointer = 7) + owner pointer 2 + 10 + srv 6 + "peer" + pointer to "local" 7
        Assert.Equal(12 + 17 + 10 + 7 + 2 + 10 + 6 + 7, packet.Length);
        AssertSame(message, DnsMessageReader.Read(packet));
    }

    [Fact]
    public void NamesCompareCaseInsensitively()
    {
        Assert.True(DnsName.Equal("_P2P._udp.LOCAL", "_p2p._udp.local"));
        Assert.False(DnsName.Equal("_p2p._udp.local", "_p2p._udp.locax"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("0000")]
    public void RejectsShortHeaders(string hex) => AssertMalformed(Convert.FromHexString(hex), "header");

    [Fact]
    public void RejectsPointerLoops()
    {
        // question name at 12 is a pointer to itself; then one pointing forward; then two pointing at each other
        AssertMalformed(Header(1) + "c00c00010001", "does not point before");
        AssertMalformed(Header(1) + "c00e00010001", "does not point before");
        AssertMalformed(Header(1) + "0161c00c00010001", "does not point before");
    }

    [Fact]
    public void FollowsBackwardPointersAcrossNames()
    {
        var message = DnsMessageReader.Read(Convert.FromHexString(Header(2) + "0161016200" + "00010001" + "0163c00e" + "00010001"));
        Assert.Equal(["a.b", "c.b"], message.Questions.Select(q => q.Name));
    }

    [Theory]
    [InlineData("4161", "label type")] // 0x40 extended label
    [InlineData("8161", "label type")]
    [InlineData("0561", "past the end")]
    public void RejectsBadLabels(string name, string reason) => AssertMalformed(Header(1) + name + "000000", reason);

    [Fact]
    public void RejectsNamesOver255Bytes()
    {
        string label = "3f" + new string('6', 126); // 63 x 'f'
        AssertMalformed(Header(1) + label + label + label + label + "00" + "00010001", "longer than 255");
        Assert.Throws<ArgumentException>(() => DnsName.ToLabels(string.Join('.', Enumerable.Repeat(new string('f', 63), 4))));
        Assert.Throws<ArgumentException>(() => DnsName.ToLabels(new string('f', 64)));
        Assert.Throws<ArgumentException>(() => DnsName.ToLabels("a..b"));
    }

    [Fact]
    public void RejectsInvalidUtf8Labels() => AssertMalformed(Header(1) + "01ff0000010001", "UTF-8");

    [Theory]
    [InlineData("000100010000007800030a0000", "A record data of 3")]
    [InlineData("001c00010000007800040a000001", "AAAA record data of 4")]
    [InlineData("0010000100000078000305616263", "overruns")]
    [InlineData("000c0001000000780001c0", "pointer runs past the end")]
    [InlineData("000c0001000000780002016100", "does not fill")]
    [InlineData("000c000100000078000401610000", "does not fill")]
    [InlineData("0021000100000078000400000000", "too short")]
    [InlineData("000100010000007800ff0a000001", "runs past the end")]
    public void RejectsBadRecordData(string afterRootName, string reason) =>
        AssertMalformed(Header(0, answers: 1) + "00" + afterRootName, reason);

    [Fact]
    public void RejectsTrailingBytesAndCountsBeyondThePacketOrLimits()
    {
        AssertMalformed(Header(1) + "0000010001ff", "follow the last record");
        AssertMalformed(Header(3) + "0000010001", "cannot hold");
        AssertMalformed(Header(0, answers: 65535), "more than the limit");
        var limits = new DnsLimits { MaxTxtStrings = 2 };
        var txt = DnsMessage.Response([new DnsRecord("a", DnsRecordType.Txt, 1, new DnsTxtData([[], [], []]))], []);
        Assert.Contains("more than 2 strings", Assert.Throws<DnsFormatException>(() => DnsMessageReader.Read(DnsMessageWriter.Write(txt), limits)).Message);
        var big = new byte[9001];
        Assert.Contains("exceeds", Assert.Throws<DnsFormatException>(() => DnsMessageReader.Read(big)).Message);
    }

    [Fact]
    public void WriterRefusesWhatCannotBeEncoded()
    {
        Assert.Throws<ArgumentException>(() => DnsMessageWriter.Write(DnsMessage.Response(
            [new DnsRecord("a", DnsRecordType.Txt, 1, new DnsTxtData([new byte[256]]))], [])));
        Assert.Throws<ArgumentException>(() => DnsMessageWriter.Write(DnsMessage.Response(
            [new DnsRecord("a", DnsRecordType.A, 1, new DnsAddressData(IPAddress.IPv6Loopback))], [])));
        Assert.Throws<ArgumentException>(() => DnsMessageWriter.Write(DnsMessage.Response(
            [new DnsRecord("a", DnsRecordType.Txt, 1, new DnsTxtData([new byte[200], new byte[200]]))], []), maxSize: 300));
    }

    internal static string Header(int questions, int answers = 0) =>
        $"00008400{questions:x4}{answers:x4}00000000";

    private static void AssertMalformed(string hex, string reason) => AssertMalformed(Convert.FromHexString(hex), reason);

    private static void AssertMalformed(byte[] packet, string reason)
    {
        var error = Assert.Throws<DnsFormatException>(() => DnsMessageReader.Read(packet));
        Assert.Contains(reason, error.Message);
    }

    internal static void AssertSame(DnsMessage expected, DnsMessage actual)
    {
        Assert.Equal((expected.Id, expected.Flags), (actual.Id, actual.Flags));
        Assert.Equal(expected.Questions, actual.Questions);
        foreach (var (want, got) in new[] { (expected.Answers, actual.Answers), (expected.Authorities, actual.Authorities), (expected.Additionals, actual.Additionals) })
        {
            Assert.Equal(want.Count, got.Count);
            for (int i = 0; i < want.Count; i++)
            {
                Assert.Equal(want[i] with { Data = null! }, got[i] with { Data = null! });
                Assert.Equal(Describe(want[i].Data), Describe(got[i].Data));
            }
        }
    }

    private static string Describe(DnsRecordData data) => data switch
    {
        DnsTxtData txt => "txt:" + string.Join(",", txt.Strings.Select(Convert.ToHexString)),
        DnsRawData raw => "raw:" + Convert.ToHexString(raw.Bytes),
        _ => data.ToString(),
    };
}
