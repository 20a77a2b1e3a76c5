using System.IO.Pipelines;
using P2PStack.Conformance.Muxer;
using P2PStack.IO;
using P2PStack.Network;

namespace P2PStack.Muxers.Yamux.Tests;

/// <summary>Hostile input never crashes or hangs a session: it ends cleanly, at most with a protocol-error go-away.</summary>
public sealed class YamuxFuzzTests
{
    [Fact]
    public async Task Random_bytes_end_the_session_cleanly()
    {
        var random = new Random(42);
        for (int i = 0; i < 150; i++)
        {
            var bytes = new byte[random.Next(1, 400)];
            random.NextBytes(bytes);
            if (random.Next(2) == 0)
            {
                bytes[0] = 0; // valid version: get past the first check
                bytes[1] = (byte)random.Next(4);
            }

            await AssertEndsCleanlyAsync(bytes);
        }
    }

    [Fact]
    public async Task Mutated_valid_conversations_end_the_session_cleanly()
    {
        var valid = ValidConversation();
        var random = new Random(99);
        for (int i = 0; i < 150; i++)
        {
            var bytes = (byte[])valid.Clone();
            for (int m = random.Next(1, 4); m > 0; m--)
            {
                bytes[random.Next(bytes.Length)] = (byte)random.Next(256);
            }

            int cut = random.Next(3) == 0 ? random.Next(bytes.Length) : bytes.Length;
            await AssertEndsCleanlyAsync(bytes[..cut]);
        }
    }

    [Fact]
    public async Task The_unmutated_conversation_is_accepted()
    {
        var goAway = await RunAsync(ValidConversation());
        Assert.Null(goAway);
    }

    private static async Task AssertEndsCleanlyAsync(byte[] input)
    {
        var goAway = await RunAsync(input);
        Assert.True(goAway is null or GoAwayCode.ProtocolError or GoAwayCode.Normal, $"unexpected go-away {goAway}");
    }

    /// <summary>Feeds <paramref name="input"/> then ends the connection; returns the go-away code the session sent
    /// (or null). Fails if the session hangs or its completion faults.</summary>
    private static async Task<GoAwayCode?> RunAsync(byte[] input)
    {
        var (local, raw) = DuplexPipe.CreatePair();
        var session = new YamuxSession(local, Direction.Inbound, new YamuxOptions { EnableKeepAlive = false });
        var drain = raw.Input.ReadToEndAsync();
        await raw.Output.WriteAsync(input);
        await raw.Output.CompleteAsync();
        await session.Completion.WaitAsync(RawPeer.Timeout); // throws if faulted
        var output = await drain.WaitAsync(RawPeer.Timeout);
        await session.DisposeAsync();

        GoAwayCode? goAway = null;
        int offset = 0;
        while (offset + 12 <= output.Length)
        {
            var header = YamuxFrameCodec.Read(output.AsSpan(offset));
            if (header.Type == YamuxFrameType.GoAway)
            {
                goAway ??= (GoAwayCode)header.Length;
            }

            offset += 12 + (header.Type == YamuxFrameType.Data ? (int)header.Length : 0);
        }

        return goAway;
    }

    private static byte[] ValidConversation()
    {
        var frames = new List<byte>();
        void Add(YamuxFrameType type, YamuxFlags flags, uint id, uint length, byte[]? payload = null)
        {
            var header = new byte[12];
            YamuxFrameCodec.Write(header, new YamuxFrameHeader(type, flags, id, length));
            frames.AddRange(header);
            frames.AddRange(payload ?? []);
        }

        Add(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, 1, 1000);
        Add(YamuxFrameType.Data, YamuxFlags.None, 1, 5, "hello"u8.ToArray());
        Add(YamuxFrameType.Data, YamuxFlags.Syn, 3, 3, "abc"u8.ToArray());
        Add(YamuxFrameType.Ping, YamuxFlags.Syn, 0, 77);
        Add(YamuxFrameType.WindowUpdate, YamuxFlags.None, 3, 4096);
        Add(YamuxFrameType.Data, YamuxFlags.Fin, 1, 2, "!!"u8.ToArray());
        Add(YamuxFrameType.WindowUpdate, YamuxFlags.Rst, 3, 0);
        Add(YamuxFrameType.GoAway, YamuxFlags.None, 0, 0);
        return [.. frames];
    }
}
