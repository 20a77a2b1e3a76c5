using System.IO.Pipelines;
using FsCheck;
using FsCheck.Fluent;
using Google.Protobuf;
using P2PStack.Addressing;
using P2PStack.IO;
using P2PStack.Nat.Dcutr.Pb;

namespace P2PStack.Nat.Dcutr.Tests;

public class HolePunchExchangeTests
{
    private static CancellationToken Ct() => new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token;

    /// <summary>Two ends of an in-memory duplex stream.</summary>
    private static (IDuplexPipe A, IDuplexPipe B) Pair()
    {
        var ab = new Pipe();
        var ba = new Pipe();
        return (new DuplexPipe(ba.Reader, ab.Writer), new DuplexPipe(ab.Reader, ba.Writer));
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;

        public PipeWriter Output { get; } = output;
    }

    private static readonly Multiaddr[] Initiator = [Multiaddr.Parse("/ip4/11.0.1.1/tcp/4001")];
    private static readonly Multiaddr[] Responder = [Multiaddr.Parse("/ip4/11.0.1.2/tcp/4002"), Multiaddr.Parse("/ip4/11.0.1.2/tcp/4003")];

    [Fact]
    public async Task ThreeAttemptsExchangeAddressesAndSyncThenTheStreamEnds()
    {
        var (initiator, responder) = Pair();
        var responding = Task.Run(async () =>
        {
            var rounds = new List<HolePunchRound>();
            while (await HolePunchExchange.RespondAsync(responder, Responder, Ct()) is { } round) rounds.Add(round);
            return rounds;
        });
        for (int attempt = 0; attempt < 3; attempt++)
        {
            var round = await HolePunchExchange.InitiateAsync(initiator, Initiator, TimeProvider.System, Ct());
            Assert.Equal(Responder, round.RemoteAddresses);
            Assert.True(round.RoundTrip > TimeSpan.Zero);
        }
        await initiator.Output.CompleteAsync();
        var received = await responding;
        Assert.Equal(3, received.Count);
        Assert.All(received, r => Assert.Equal(Initiator, r.RemoteAddresses));
    }

    [Fact]
    public async Task MessagesAreTheSpecsBytes()
    {
        var pipe = new Pipe();
        await DcutrProtocol.WriteConnectAsync(pipe.Writer, Initiator, Ct());
        await DcutrProtocol.WriteSyncAsync(pipe.Writer, Ct());
        await pipe.Writer.CompleteAsync();
        var bytes = System.Buffers.BuffersExtensions.ToArray((await pipe.Reader.ReadAtLeastAsync(1000)).Buffer);
        byte[] address = Initiator[0].ToBytes();
        // CONNECT: len, 08 64 (type 100), 12 len addr; SYNC: 03 08 ac 02 (type 300)
        byte[] expected = [(byte)(4 + address.Length), 0x08, 0x64, 0x12, (byte)address.Length, .. address, 0x03, 0x08, 0xac, 0x02];
        Assert.Equal(expected, bytes);
    }

    [Fact]
    public async Task MissingTypeWrongOrderAndOversizedMessagesAreTypedErrors()
    {
        async Task<Exception?> Read(byte[] wire, bool sync = false)
        {
            var pipe = new Pipe();
            await pipe.Writer.WriteAsync(wire);
            await pipe.Writer.CompleteAsync();
            return await Record.ExceptionAsync(() => sync ? DcutrProtocol.ReadSyncAsync(pipe.Reader, Ct()) : DcutrProtocol.ReadConnectAsync(pipe.Reader, Ct()));
        }
        Assert.IsType<DcutrFormatException>(await Read([0x02, 0x12, 0x00])); // addresses, no type
        Assert.IsType<DcutrFormatException>(await Read([0x03, 0x08, 0xac, 0x02])); // SYNC where CONNECT is due
        Assert.IsType<DcutrFormatException>(await Read([0x02, 0x08, 0x64], sync: true));
        var oversized = new HolePunch { Type = HolePunch.Types.Type.Connect };
        for (int i = 0; i < 200; i++) oversized.ObsAddrs.Add(ByteString.CopyFrom(new byte[30]));
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        LengthPrefixed.WriteMessage(buffer, oversized);
        Assert.IsType<DcutrFormatException>(await Read(buffer.WrittenSpan.ToArray()));
        Assert.IsType<DcutrFormatException>(await Read([0x05, 0x08])); // truncated
    }

    [Fact]
    public void RandomMessagesFailOnlyWithTheTypedError()
    {
        Prop.ForAll<byte[]>(bytes =>
        {
            var pipe = new Pipe();
            pipe.Writer.WriteAsync(bytes).AsTask().Wait();
            pipe.Writer.Complete();
            var error = Record.Exception(() => DcutrProtocol.ReadConnectAsync(pipe.Reader, CancellationToken.None).GetAwaiter().GetResult());
            return error is null or DcutrFormatException;
        }).QuickCheckThrowOnFailure();
    }

    [Fact]
    public void OnlyPublicDirectTcpAddressesArePunchable()
    {
        var addresses = new[]
        {
            "/ip4/11.0.1.1/tcp/4001", "/ip4/192.168.1.2/tcp/4001", "/ip4/11.0.1.1/tcp/4002/ws",
            "/ip4/11.0.0.9/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN/p2p-circuit", "/ip4/127.0.0.1/tcp/4001",
        }.Select(a => Multiaddr.Parse(a));
        Assert.Equal([Multiaddr.Parse("/ip4/11.0.1.1/tcp/4001")], HolePunchExchange.Punchable(addresses, allowPrivate: false));
    }
}
