using System.Diagnostics;
using Google.Protobuf;
using P2PStack.Addressing;
using P2PStack.Discovery.Signaling.Pb;
using P2PStack.Encoding;
using P2PStack.Identity;
using P2PStack.IO;
using P2PStack.Network;
using P2PStack.Records;
using P2PStack.Transports.Memory;
using Xunit.Abstractions;

namespace P2PStack.Discovery.Signaling.Tests;

/// <summary>
/// <see cref="SwarmSignalingOptions.AnswerStallTimeout"/> measures progress, not the whole write: a Serve answer of
/// about 1 MiB (four of the light peer's yamux windows) read slowly takes several stall timeouts in all and is taken
/// in full, while a peer that stops reading part way is cut one stall timeout after it stopped.
/// </summary>
public sealed class AnswerStallTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Key = "slow-light-peer";
    private const int AnswerLimit = 1 << 20;
    private static readonly TimeSpan StallTimeout = TimeSpan.FromSeconds(2);
    private readonly MemoryNetwork _network = new();
    private readonly List<SignalingPeer> _peers = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var peer in _peers) await peer.DisposeAsync();
    }

    [Fact]
    public async Task A_slow_light_peer_that_keeps_reading_gets_the_whole_answer_however_long_it_takes()
    {
        var (host, stream, serve) = await ServeManyMembersAsync();
        var clock = Stopwatch.StartNew();
        LengthPrefixed.WriteMessage(stream.Output, serve);
        await stream.Output.FlushAsync();

        // 16 KiB every 100 ms: about 160 KiB/s, so a window update (every 128 KiB read) comes within a second, while
        // the answer's last three windows take about 5 s: more than twice the stall timeout.
        var answer = await ReadAnswerAsync(stream, stopAfter: long.MaxValue);
        var response = SignalResponse.Parser.ParseFrom(answer!);
        output.WriteLine($"{answer!.Length} bytes, {response.Members.Count} members taken in {clock.Elapsed.TotalSeconds:0.0} s (stall timeout {StallTimeout.TotalSeconds} s)");
        Assert.Equal(SignalResponse.Types.Status.Ok, response.Status);
        Assert.True(clock.Elapsed > 2 * StallTimeout, "the answer went faster than the test's premise (several stall timeouts)");
        Assert.Equal(0, host.Signaling!.Metrics.RefusedCount("stalled"));

        // The stream still serves: the next answer comes as usual.
        var again = await RequestAsync(stream, new SignalRequest { Release = new() { Swarm = serve.Serve.Swarm } });
        Assert.Equal(SignalResponse.Types.Status.Ok, again.Status);
    }

    [Fact]
    public async Task A_light_peer_that_stops_reading_part_way_is_cut_one_stall_timeout_later()
    {
        var (host, stream, serve) = await ServeManyMembersAsync();
        LengthPrefixed.WriteMessage(stream.Output, serve);
        await stream.Output.FlushAsync();

        // Reads 384 KiB slowly (progress, past the first window), then nothing.
        await ReadAnswerAsync(stream, stopAfter: 384 * 1024);
        var stopped = Stopwatch.StartNew();
        await SignalingPeer.WaitUntil(() => host.Signaling!.Metrics.RefusedCount("stalled") == 1, "the stalled stream counted");
        output.WriteLine($"cut {stopped.Elapsed.TotalSeconds:0.0} s after the peer stopped reading (stall timeout {StallTimeout.TotalSeconds} s)");
        // The cut is a reset the peer sees when it reads on: the rest of this answer never comes.
        var clock = Stopwatch.StartNew();
        var read = await Assert.ThrowsAsync<StreamResetException>(() => ReadToEndAsync(stream));
        output.WriteLine($"the peer saw the reset after {clock.Elapsed.TotalSeconds:0.0} s: {read.Message}");
    }

    /// <summary>Reads whatever the stream still has, 16 KiB per 100 ms, until it ends; returns how many bytes came.</summary>
    private static async Task<long> ReadToEndAsync(Network.IStream stream)
    {
        long total = 0;
        while (true)
        {
            var result = await stream.Input.ReadAsync().AsTask().WaitAsync(SignalingPeer.Patience);
            var take = result.Buffer.Slice(0, Math.Min(result.Buffer.Length, 16 * 1024));
            total += take.Length;
            stream.Input.AdvanceTo(take.End);
            if (result.IsCompleted && take.End.Equals(result.Buffer.End)) return total;
            await Task.Delay(100);
        }
    }

    /// <summary>A host relaying a swarm of members whose announcements make a Serve answer of about 1 MiB, and a light
    /// peer's signaling stream to it (its first Serve already answered).</summary>
    private async Task<(SignalingPeer Host, Network.IStream Stream, SignalRequest Serve)> ServeManyMembersAsync()
    {
        var host = await SignalingPeer.StartAsync(_network, o =>
        {
            o.AnswerStallTimeout = StallTimeout;
            o.MaxServeAnswerSize = AnswerLimit;
        });
        _peers.Add(host);
        var light = await SignalingPeer.StartAsync(_network, withSignaling: false);
        _peers.Add(light);
        await light.ConnectAsync(host);
        byte[] swarm = SignalingProtocol.SwarmId(Key);
        var serve = new SignalRequest { Serve = new() { Swarm = ByteString.CopyFrom(swarm) } };
        var stream = await light.Host.OpenStreamAsync(host.PeerId, [SignalingProtocol.HostProtocolId], CancellationToken.None);
        Assert.Equal(SignalResponse.Types.Status.Ok, (await RequestAsync(stream, serve)).Status); // the host now keeps the swarm

        int added = 0;
        long size = 0;
        var now = DateTimeOffset.UtcNow;
        while (size < AnswerLimit - 8 * 1024)
        {
            byte[] envelope = Announcement(swarm, now);
            var presence = SignalingProtocol.Open(envelope, swarm, now, host.Signaling!.Options);
            Assert.True(host.Signaling.TryApply(swarm, presence));
            size += envelope.Length + 4;
            added++;
        }
        output.WriteLine($"{added} members, about {size} bytes of announcements");
        return (host, stream, serve);
    }

    /// <summary>A member's signed announcement near the size limit: 32 long addresses and 32 hosts.</summary>
    private static byte[] Announcement(byte[] swarm, DateTimeOffset now)
    {
        var key = PrivateKey.Generate();
        var presence = new Presence
        {
            Swarm = ByteString.CopyFrom(swarm),
            Peer = ByteString.CopyFrom(PeerId.FromPublicKey(key.PublicKey).Bytes.Span),
            Kind = Presence.Types.Kind.Available,
            SinceMs = (ulong)now.ToUnixTimeMilliseconds(),
            UntilMs = (ulong)(now + TimeSpan.FromMinutes(5)).ToUnixTimeMilliseconds(),
            Seq = PeerRecord.NextTimestampSeq(),
        };
        for (int i = 0; i < 32; i++)
            presence.Addrs.Add(ByteString.CopyFrom(Multiaddr.Parse($"/dns4/member-{i}.a-rather-long-name.example.org/tcp/{4000 + i}").Bytes.Span));
        for (int i = 0; i < 32; i++)
            presence.Hosts.Add(ByteString.CopyFrom(PeerId.FromPublicKey(PrivateKey.Generate().PublicKey).Bytes.Span));
        return SignalingProtocol.Seal(presence, key);
    }

    /// <summary>Reads one length-prefixed answer 16 KiB per 100 ms; returns it, or null once <paramref name="stopAfter"/>
    /// bytes were read.</summary>
    private static async Task<byte[]?> ReadAnswerAsync(Network.IStream stream, long stopAfter)
    {
        var received = new MemoryStream();
        long expected = -1;
        while (expected < 0 || received.Length < expected)
        {
            var result = await stream.Input.ReadAsync().AsTask().WaitAsync(SignalingPeer.Patience);
            var take = result.Buffer.Slice(0, Math.Min(result.Buffer.Length, 16 * 1024));
            foreach (var segment in take) received.Write(segment.Span);
            stream.Input.AdvanceTo(take.End);
            if (expected < 0 && Varint.TryReadPrefix(received.GetBuffer().AsSpan(0, (int)received.Length), out ulong length, out int prefix))
                expected = prefix + (long)length;
            if (received.Length >= stopAfter) return null;
            if (result.IsCompleted && take.End.Equals(result.Buffer.End)) throw new EndOfStreamException("the answer ended early");
            await Task.Delay(100);
        }
        Varint.TryReadPrefix(received.GetBuffer().AsSpan(0, (int)received.Length), out _, out int header);
        return received.GetBuffer().AsSpan(header, (int)received.Length - header).ToArray();
    }

    private static async Task<SignalResponse> RequestAsync(Network.IStream stream, SignalRequest request)
    {
        LengthPrefixed.WriteMessage(stream.Output, request);
        await stream.Output.FlushAsync();
        return await LengthPrefixed.ReadMessageAsync(stream.Input, 2 << 20, b => SignalResponse.Parser.ParseFrom(b), CancellationToken.None)
            .AsTask().WaitAsync(SignalingPeer.Patience);
    }
}
