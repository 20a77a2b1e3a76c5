using System.Buffers;
using System.IO.Pipelines;
using Google.Protobuf;
using P2PStack.Addressing;
using P2PStack.Protocols.Kademlia.Pb;
using static P2PStack.Protocols.Kademlia.Pb.Message.Types;
using Record = P2PStack.Protocols.Kademlia.Pb.Record;

namespace P2PStack.Protocols.Kademlia.Tests;

public class CodecTests
{
    [Fact]
    public void FieldNumbersAreTheSpecs()
    {
        var message = new Message
        {
            Type = MessageType.GetValue,
            Key = ByteString.CopyFrom(1),
            Record = new Record { Key = ByteString.CopyFrom(2), Value = ByteString.CopyFrom(3), TimeReceived = "t" },
            ClusterLevelRaw = 4,
        };
        message.CloserPeers.Add(new Peer { Id = ByteString.CopyFrom(5), Connection = ConnectionType.Connected });
        message.CloserPeers[0].Addrs.Add(ByteString.CopyFrom(6));
        message.ProviderPeers.Add(new Peer { Id = ByteString.CopyFrom(7) });
        // type=1 (varint 1), key=2, record=3 {key=1, value=2, timeReceived=5}, closerPeers=8 {id=1, addrs=2, connection=3},
        // providerPeers=9, clusterLevelRaw=10 — in field-number order as protobuf writes them.
        byte[] expected =
        [
            0x08, 0x01,
            0x12, 0x01, 0x01,
            0x1A, 0x09, 0x0A, 0x01, 0x02, 0x12, 0x01, 0x03, 0x2A, 0x01, (byte)'t',
            0x42, 0x08, 0x0A, 0x01, 0x05, 0x12, 0x01, 0x06, 0x18, 0x01,
            0x4A, 0x03, 0x0A, 0x01, 0x07,
            0x50, 0x04,
        ];
        Assert.Equal(expected, message.ToByteArray());
        Assert.Equal(message, KadProtocol.Parse(expected));
    }

    [Fact]
    public void PutValueTypeZeroIsOmittedAndParsedBack()
    {
        var message = new Message { Type = MessageType.PutValue, Key = ByteString.CopyFromUtf8("/pk/x") };
        Assert.Equal(0x12, message.ToByteArray()[0]);
        Assert.Equal(MessageType.PutValue, KadProtocol.Parse(message.ToByteArray()).Type);
    }

    [Fact]
    public async Task RoundTripsLengthPrefixedMessagesOnAPipe()
    {
        var pipe = new Pipe();
        var first = new Message { Type = MessageType.FindNode, Key = ByteString.CopyFrom(TestPeers.Random().Bytes.Span) };
        var second = new Message { Type = MessageType.Ping };
        await KadProtocol.WriteAsync(pipe.Writer, first, 1024, default);
        await KadProtocol.WriteAsync(pipe.Writer, second, 1024, default);
        await pipe.Writer.CompleteAsync();
        Assert.Equal(first, await KadProtocol.ReadAsync(pipe.Reader, 1024, default));
        Assert.Equal(second, await KadProtocol.ReadOrEndAsync(pipe.Reader, 1024, default));
        Assert.Null(await KadProtocol.ReadOrEndAsync(pipe.Reader, 1024, default));
    }

    [Fact]
    public async Task OversizedMessagesAreRefusedBothWays()
    {
        var big = new Message { Type = MessageType.PutValue, Key = ByteString.CopyFrom(new byte[2000]) };
        await Assert.ThrowsAsync<KadProtocolException>(() => KadProtocol.WriteAsync(new Pipe().Writer, big, 1024, default).AsTask());
        var pipe = new Pipe();
        await KadProtocol.WriteAsync(pipe.Writer, big, 4096, default);
        await pipe.Writer.CompleteAsync();
        var error = await Assert.ThrowsAsync<KadProtocolException>(() => KadProtocol.ReadAsync(pipe.Reader, 1024, default).AsTask());
        Assert.Contains("too large", error.Message);
    }

    [Fact]
    public async Task TruncatedMessagesThrowTyped()
    {
        var message = new Message { Type = MessageType.GetValue, Key = ByteString.CopyFromUtf8("/pk/abc") }.ToByteArray();
        for (int cut = 0; cut < message.Length; cut++)
        {
            var pipe = new Pipe();
            await pipe.Writer.WriteAsync(new byte[] { (byte)message.Length });
            await pipe.Writer.WriteAsync(message.AsMemory(0, cut));
            await pipe.Writer.CompleteAsync();
            await Assert.ThrowsAsync<KadProtocolException>(() => KadProtocol.ReadAsync(pipe.Reader, 1024, default).AsTask());
        }
    }

    [Fact]
    public void RandomAndMutatedBytesNeverEscapeAsUntypedErrors()
    {
        var random = new Random(42);
        var valid = new Message { Type = MessageType.GetProviders, Key = ByteString.CopyFrom(new byte[34]), Record = new Record { Value = ByteString.CopyFrom(1, 2) } };
        valid.CloserPeers.Add(KadProtocol.ToWire(new PeerInfo(TestPeers.Random(), [Multiaddr.Parse("/ip4/1.2.3.4/tcp/1")]), ConnectionType.CanConnect));
        byte[] template = valid.ToByteArray();
        for (int i = 0; i < 5000; i++)
        {
            byte[] input;
            if (i % 2 == 0)
            {
                input = new byte[random.Next(0, 64)];
                random.NextBytes(input);
            }
            else
            {
                input = (byte[])template.Clone();
                for (int m = random.Next(1, 4); m > 0; m--) input[random.Next(input.Length)] = (byte)random.Next(256);
            }
            try
            {
                var parsed = KadProtocol.Parse(input);
                foreach (var peer in parsed.CloserPeers.Concat(parsed.ProviderPeers)) KadProtocol.ToPeerInfo(peer, 8);
            }
            catch (KadProtocolException)
            {
            }
        }
    }

    [Fact]
    public void PeerConversionSkipsBadAddressesAndRejectsBadIds()
    {
        var peer = TestPeers.Random();
        var wire = new Peer { Id = ByteString.CopyFrom(peer.Bytes.Span) };
        wire.Addrs.Add(ByteString.CopyFrom(0xFF, 0xFF));
        wire.Addrs.Add(ByteString.CopyFrom(Multiaddr.Parse("/ip4/1.2.3.4/tcp/4001").Bytes.Span));
        var info = KadProtocol.ToPeerInfo(wire, 8)!;
        Assert.Equal(peer, info.Peer);
        Assert.Equal([Multiaddr.Parse("/ip4/1.2.3.4/tcp/4001")], info.Addresses);
        Assert.Null(KadProtocol.ToPeerInfo(new Peer { Id = ByteString.CopyFrom(1, 2, 3) }, 8));
    }

    [Fact]
    public void TimeReceivedIsRfc3339NanoStyle()
    {
        var time = new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.FromHours(2)).AddTicks(1234500);
        Assert.Equal("2024-05-06T05:08:09.12345Z", KadProtocol.FormatTimeReceived(time));
        Assert.Equal("2024-05-06T05:08:09Z", KadProtocol.FormatTimeReceived(new DateTimeOffset(2024, 5, 6, 5, 8, 9, TimeSpan.Zero)));
        Assert.Equal(time, KadProtocol.ParseTimeReceived("2024-05-06T05:08:09.123450000Z"));
        Assert.Null(KadProtocol.ParseTimeReceived("yesterday"));
    }
}
