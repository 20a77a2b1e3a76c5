using System.Net;
using FsCheck;
using FsCheck.Fluent;
using P2PStack.Discovery.Mdns.Dns;

namespace P2PStack.Discovery.Mdns.Tests;

/// <summary>Random, mutated and truncated packets: the reader returns a message or throws DnsFormatException, nothing else.</summary>
public class DnsFuzzTests
{
    private static readonly DnsLimits Limits = new() { MaxRecords = 64, MaxTxtStrings = 64 };

    [Fact]
    public void RandomBytesNeverEscapeAsAnotherException() =>
        Prop.ForAll<byte[]>(bytes => ReadsOrRejects(bytes)).QuickCheckThrowOnFailure();

    [Fact]
    public void RandomBytesBehindAValidHeaderNeverEscape()
    {
        var random = new Random(5353);
        for (int i = 0; i < 20_000; i++)
        {
            var packet = new byte[12 + random.Next(0, 200)];
            random.NextBytes(packet);
            packet[4] = 0;
            packet[6] = 0;
            packet[8] = 0;
            packet[10] = 0;
            packet[5] = (byte)random.Next(0, 4);
            packet[7] = (byte)random.Next(0, 6);
            packet[11] = (byte)random.Next(0, 3);
            ReadsOrRejects(packet);
        }
    }

    [Fact]
    public void MutatedAndTruncatedValidPacketsNeverEscape()
    {
        var random = new Random(251);
        byte[][] seeds = [TestPackets.JsQuery, TestPackets.JsResponse, Sample()];
        foreach (var seed in seeds)
        {
            for (int length = 0; length < seed.Length; length++)
                Assert.Throws<DnsFormatException>(() => DnsMessageReader.Read(seed.AsSpan(0, length), Limits));
            for (int i = 0; i < 10_000; i++)
            {
                var packet = (byte[])seed.Clone();
                int flips = random.Next(1, 6);
                for (int f = 0; f < flips; f++)
                {
                    int at = random.Next(packet.Length);
                    packet[at] = random.Next(3) switch
                    {
                        0 => (byte)random.Next(256),
                        1 => (byte)(packet[at] ^ (1 << random.Next(8))),
                        _ => (byte)(0xC0 | random.Next(64)), // a compression pointer somewhere
                    };
                }
                ReadsOrRejects(packet);
            }
        }
    }

    [Fact]
    public void GeneratedMessagesRoundTrip()
    {
        var labels = Gen.Elements("_p2p", "_udp", "local", "peer", "A.b", "x\\y", "ñ", new string('z', 63));
        var names = Gen.ListOf(labels).Select(l => string.Join('.', l.Take(3).Select(x => x.Replace("\\", "\\\\").Replace(".", "\\."))));
        var strings = Gen.ArrayOf(Gen.Choose(0, 255).Select(b => (byte)b)).Select(a => a.Take(255).ToArray());
        var data = Gen.OneOf(
            names.Select(n => ((DnsRecordType)12, (DnsRecordData)new DnsPtrData(n))),
            Gen.ListOf(strings).Select(l => ((DnsRecordType)16, (DnsRecordData)new DnsTxtData([.. l.Take(8).DefaultIfEmpty([])]))),
            Gen.Choose(0, int.MaxValue).Select(v => ((DnsRecordType)1, (DnsRecordData)new DnsAddressData(new IPAddress(BitConverter.GetBytes(v))))),
            names.Select(n => ((DnsRecordType)33, (DnsRecordData)new DnsSrvData(1, 2, 3, n))));
        var records = Gen.ListOf(names.Zip(data).Zip(Gen.Choose(0, 1000)).Select(t =>
            new DnsRecord(t.Item1.Item1, t.Item1.Item2.Item1, (uint)t.Item2, t.Item1.Item2.Item2, CacheFlush: t.Item2 % 2 == 0)));
        Prop.ForAll(Arb.From(records), list =>
        {
            var message = DnsMessage.Response([.. list.Take(20)], [.. list.Skip(20).Take(20)]);
            DnsCodecTests.AssertSame(message, DnsMessageReader.Read(DnsMessageWriter.Write(message), Limits));
        }).QuickCheckThrowOnFailure();
    }

    private static byte[] Sample()
    {
        return DnsMessageWriter.Write(DnsMessage.Response(
            [new DnsRecord("_p2p._udp.local", DnsRecordType.Ptr, 120, new DnsPtrData("peer._p2p._udp.local"))],
            [
                new DnsRecord("peer._p2p._udp.local", DnsRecordType.Txt, 120, new DnsTxtData(["dnsaddr=/ip4/1.2.3.4/tcp/1/p2p/x"u8.ToArray()]), CacheFlush: true),
                new DnsRecord("peer._p2p._udp.local", DnsRecordType.Srv, 120, new DnsSrvData(0, 0, 4001, "peer.local"), CacheFlush: true),
                new DnsRecord("peer.local", DnsRecordType.A, 120, new DnsAddressData(IPAddress.Parse("192.0.2.9")), CacheFlush: true),
                new DnsRecord("peer.local", DnsRecordType.Aaaa, 120, new DnsAddressData(IPAddress.Parse("fd00::9")), CacheFlush: true),
            ]));
    }

    private static void ReadsOrRejects(byte[] packet)
    {
        try
        {
            DnsMessageReader.Read(packet, Limits);
        }
        catch (DnsFormatException)
        {
        }
    }
}
