using System.Text.Json;

namespace SynapticMesh.Tests;

/// <summary><c>p2p subscribe/publish</c> and <c>p2p pubsub peers/topics</c> across three real nodes.</summary>
[Collection(ThreeNodesCollection.Name)]
public sealed class PubSubCliTests(ThreeNodes nodes)
{
    [Fact]
    public async Task PublishedMessagesReachASubscriberAsJsonLines()
    {
        string topic = $"news-{Guid.NewGuid():N}";
        await using var subscriber = await CliStream.StartAsync(nodes.A, "p2p", "subscribe", topic, "--json");
        await WaitUntilKnownSubscribedAsync(nodes.B, topic, nodes.A.PeerId);
        await WaitUntilKnownSubscribedAsync(nodes.C, topic, nodes.A.PeerId);

        var published = await nodes.B.RunJsonAsync("p2p", "publish", topic, "hello pubsub");
        Assert.Equal(12, published.GetProperty("bytes").GetInt32());
        Assert.True(published.GetProperty("topicPeers").GetInt32() >= 1);
        var first = await subscriber.ReadJsonAsync();
        Assert.Equal(topic, first.GetProperty("topic").GetString());
        Assert.Equal(nodes.B.PeerId, first.GetProperty("from").GetString());
        Assert.Equal("hello pubsub", first.GetProperty("data").GetString());
        Assert.Equal("utf-8", first.GetProperty("encoding").GetString());
        Assert.True(ulong.TryParse(first.GetProperty("seqno").GetString(), out _));

        // From stdin, and from a file with bytes that are not text.
        var stdin = await nodes.C.RunWithInputAsync("from stdin", "p2p", "publish", topic, "-");
        Assert.True(stdin.ExitCode == 0, stdin.Stderr);
        var second = await subscriber.ReadJsonAsync();
        Assert.Equal(("from stdin", nodes.C.PeerId), (second.GetProperty("data").GetString(), second.GetProperty("from").GetString()));
        string file = Path.Combine(nodes.B.Home.Path, "payload.bin");
        byte[] payload = [0xff, 0x00, 0xfe, 0x41];
        await File.WriteAllBytesAsync(file, payload);
        Assert.Equal(0, (await nodes.B.RunAsync("p2p", "publish", topic, "--file", file)).ExitCode);
        var third = await subscriber.ReadJsonAsync();
        Assert.Equal("base64", third.GetProperty("encoding").GetString());
        Assert.Equal(payload, Convert.FromBase64String(third.GetProperty("data").GetString()!));

        Assert.Equal(0, await subscriber.StopAsync());
    }

    [Fact]
    public async Task TextOutputEscapesControlCharactersAndTheLimitIsStated()
    {
        string topic = $"chat-{Guid.NewGuid():N}";
        await using var subscriber = await CliStream.StartAsync(nodes.C, "p2p", "subscribe", topic);
        await WaitUntilKnownSubscribedAsync(nodes.A, topic, nodes.C.PeerId);
        Assert.Equal(0, (await nodes.A.RunAsync("p2p", "publish", topic, "ring\u0007 \u001b]0;owned\u0007 fake\nline\r")).ExitCode);
        string line = await subscriber.ReadLineAsync();
        Assert.EndsWith($" {topic} {nodes.A.PeerId}: ring\\a \\e]0;owned\\a fake\\nline\\r", line);

        string big = Path.Combine(nodes.A.Home.Path, "big.bin");
        await File.WriteAllBytesAsync(big, new byte[1_100_000]);
        var tooBig = await nodes.A.RunAsync("p2p", "publish", topic, "--file", big);
        tooBig.AssertOneLineError("the message is 1100000 bytes, over the limit of");
        await File.WriteAllBytesAsync(big, new byte[3_000_000]);
        (await nodes.A.RunAsync("p2p", "publish", topic, "--file", big)).AssertOneLineError("the message is 3000000 bytes, over the limit of");
    }

    [Fact]
    public async Task PeersAndTopicsAreListed()
    {
        string topic = $"list-{Guid.NewGuid():N}";
        await using var onB = await CliStream.StartAsync(nodes.B, "p2p", "subscribe", topic);
        await using var onC = await CliStream.StartAsync(nodes.C, "p2p", "subscribe", topic);
        var peers = await Eventually.HoldsAsync(() => nodes.A.RunJsonAsync("p2p", "pubsub", "peers", topic),
            p => p.GetProperty("peers").GetArrayLength() == 2, "A knows both subscribers");
        Assert.Equal(new[] { nodes.B.PeerId, nodes.C.PeerId }.Order(),
            peers.GetProperty("peers").EnumerateArray().Select(p => p.GetProperty("peerId").GetString()).Order());

        var topics = await nodes.B.RunJsonAsync("p2p", "pubsub", "topics");
        var entry = topics.GetProperty("topics").EnumerateArray().Single(t => t.GetProperty("topic").GetString() == topic);
        Assert.True(entry.GetProperty("peers").GetInt32() >= 1);
        var text = await nodes.B.RunAsync("p2p", "pubsub", "topics");
        Assert.Contains($"{topic}\t", text.Stdout);

        Assert.Equal(0, await onB.StopAsync());
        // The subscription ends with the command: the node leaves the topic.
        await Eventually.HoldsAsync(() => nodes.B.RunJsonAsync("p2p", "pubsub", "topics"),
            t => !t.GetProperty("topics").EnumerateArray().Any(e => e.GetProperty("topic").GetString() == topic), "B left the topic");
    }

    private static Task WaitUntilKnownSubscribedAsync(NodeProcess publisher, string topic, string subscriber) =>
        Eventually.HoldsAsync(() => publisher.RunJsonAsync("p2p", "pubsub", "peers", topic),
            p => p.GetProperty("peers").EnumerateArray().Any(e => e.GetProperty("peerId").GetString() == subscriber),
            $"{publisher.PeerId} knows {subscriber} subscribed to {topic}");
}
