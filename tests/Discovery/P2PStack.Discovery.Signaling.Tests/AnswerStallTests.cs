using Google.Protobuf;
using P2PStack.Addressing;
using P2PStack.Discovery.Signaling.Pb;
using P2PStack.Encoding;
using P2PStack.Identity;
using P2PStack.IO;
using P2PStack.Muxers.Yamux;
using P2PStack.Network;
using P2PStack.Records;
using P2PStack.Testing;
using P2PStack.Transports.Memory;
using Xunit.Abstractions;

namespace P2PStack.Discovery.Signaling.Tests;

/// <summary>
/// <see cref="SwarmSignalingOptions.AnswerStallTimeout"/> measures progress, not the whole write: a Serve answer of
/// about 1 MiB (four of the light peer's windows) taken half a window per half stall timeout takes several stall
/// timeouts in all and arrives whole, while a peer that stops part way is cut one stall timeout after the host last
/// saw progress.
/// </summary>
/// <remarks>
/// Deterministic by construction, whatever the machine's load. (1) The light peer's yamux receive window is pinned at
/// 256 KiB: auto-tuning doubles a window consumed within four round trips of its last update, and a round trip measured
/// on a loaded machine (a cold process in a fresh clone) can be long enough for the window to outgrow the whole answer,
/// which then flushes into the peer's buffers and never stalls (8b42e22's stop test failed so). Pinned, the host can
/// never have sent more than what the peer read plus one window. (2) The host's signaling runs on a
/// <see cref="ManualClock"/> that the test moves one look of the host's watcher at a time, and only once the host sent
/// what the peer's last window update let out: the host's view of time does not depend on how fast the machine runs.
/// </remarks>
public sealed class AnswerStallTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Key = "slow-light-peer";
    private const int AnswerLimit = 1 << 20;
    private const int Window = YamuxOptions.SpecInitialWindow;
    private const int HalfWindow = Window / 2; // a yamux receiver grants more window once half of it is free
    private const int Chunk = 16 * 1024;
    private static readonly TimeSpan StallTimeout = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan Step = StallTimeout / 4; // the host's watcher looks this often: one look per step
    private readonly MemoryNetwork _network = new();
    private readonly ManualClock _clock = new(DateTimeOffset.UtcNow);
    private readonly List<SignalingPeer> _peers = [];
    private int _idleTimers; // timers on the host's clock while no answer waits (its tick loop)

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var peer in _peers) await peer.DisposeAsync();
    }

    [Fact]
    public async Task A_slow_light_peer_that_keeps_reading_gets_the_whole_answer_however_long_it_takes()
    {
        var (host, stream, serve) = await ServeManyMembersAsync();
        await SendAsync(stream, serve);
        long start = _clock.GetTimestamp();

        var received = new MemoryStream();
        long total = -1;
        int header = 0;
        while (total < 0 || received.Length < total)
        {
            long boundary = (received.Length / HalfWindow + 1) * HalfWindow;
            await ReadAsync(stream, received, upTo: total < 0 ? boundary : Math.Min(boundary, total));
            if (total < 0 && Varint.TryReadPrefix(received.GetBuffer().AsSpan(0, (int)received.Length), out ulong length, out header))
                total = header + (long)length;
            long rest = total - received.Length;
            if (received.Length % HalfWindow != 0 || rest <= 0) continue;
            // The peer freed half its window and granted it: once the host sent that much more (the peer holds a whole
            // window again), half a stall timeout passes on the host's clock. The rest of the answer, once within one
            // window, is all sent: the write is done and no time passes.
            await WaitForBufferedAsync(stream, Math.Min(rest, Window));
            if (rest <= Window) continue;
            await StepAsync();
            await StepAsync();
        }

        var taken = _clock.GetElapsedTime(start);
        var response = SignalResponse.Parser.ParseFrom(received.GetBuffer().AsSpan(header, (int)total - header));
        output.WriteLine($"{total} bytes, {response.Members.Count} members taken in {taken.TotalSeconds:0.0} s of the host's clock (stall timeout {StallTimeout.TotalSeconds} s)");
        Assert.Equal(SignalResponse.Types.Status.Ok, response.Status);
        Assert.True(taken > 2 * StallTimeout, "the answer went faster than the test's premise (several stall timeouts)");
        Assert.Equal(0, host.Signaling!.Metrics.RefusedCount("stalled"));

        // The stream still serves: the next answer comes as usual.
        var again = await RequestAsync(stream, new SignalRequest { Release = new() { Swarm = serve.Serve.Swarm } });
        Assert.Equal(SignalResponse.Types.Status.Ok, again.Status);
    }

    [Fact]
    public async Task A_light_peer_that_stops_reading_part_way_is_cut_one_stall_timeout_later()
    {
        var (host, stream, serve) = await ServeManyMembersAsync();
        await SendAsync(stream, serve);

        // Takes three half windows, then nothing: the host can send one window more (640 KiB of about 1 MiB), no further.
        await ReadAsync(stream, new MemoryStream(), upTo: 3 * HalfWindow);
        await WaitForBufferedAsync(stream, Window);
        long stopped = _clock.GetTimestamp();
        bool Cut() => host.Signaling!.Metrics.RefusedCount("stalled") == 1;
        for (int steps = 0; !Cut(); steps++)
        {
            Assert.True(steps < 100, "the host did not cut a peer that stopped reading within 50 stall timeouts of its clock");
            await StepAsync(Cut);
        }
        var after = _clock.GetElapsedTime(stopped);
        output.WriteLine($"cut {after.TotalSeconds:0.0} s of the host's clock after the peer stopped reading (stall timeout {StallTimeout.TotalSeconds} s)");
        // The first look sees the progress (the window taken), the cut comes a whole stall timeout of looks after it.
        Assert.InRange(after, StallTimeout, StallTimeout + 2 * Step);

        // The cut is a reset the peer sees when it reads on: the rest of this answer never comes.
        var read = await Assert.ThrowsAsync<StreamResetException>(() => ReadToEndAsync(stream));
        output.WriteLine($"the peer saw the reset: {read.Message}");
    }

    /// <summary>Moves the host's clock on by one <see cref="Step"/> once its answer watcher waits on it (a timer armed
    /// beyond the idle ones), so that each step is one look; does nothing once <paramref name="done"/> holds.</summary>
    private async Task StepAsync(Func<bool>? done = null)
    {
        await SignalingPeer.WaitUntil(() => done?.Invoke() == true || _clock.PendingTimers > _idleTimers, "the host's answer watcher waiting on its clock");
        if (done?.Invoke() != true) _clock.Advance(Step);
    }

    /// <summary>Reads exactly 16 KiB at a time (or what is left up to <paramref name="upTo"/>) into
    /// <paramref name="received"/> until it holds <paramref name="upTo"/> bytes. Whole chunks make the peer's window
    /// updates come at fixed points: every half window of the answer, each granting the host a whole window more.</summary>
    private static async Task ReadAsync(IStream stream, MemoryStream received, long upTo)
    {
        while (received.Length < upTo)
        {
            long want = Math.Min(Chunk, upTo - received.Length);
            var result = await stream.Input.ReadAsync().AsTask().WaitAsync(SignalingPeer.Patience);
            if (result.Buffer.Length < want)
            {
                if (result.IsCompleted) throw new EndOfStreamException("the answer ended early");
                stream.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End); // all seen: the next read waits for more
                continue;
            }
            var take = result.Buffer.Slice(0, want);
            foreach (var segment in take) received.Write(segment.Span);
            stream.Input.AdvanceTo(take.End);
        }
    }

    /// <summary>Waits until the peer holds <paramref name="bytes"/> unread (the host sent what the window let out),
    /// reading none of them.</summary>
    private static async Task WaitForBufferedAsync(IStream stream, long bytes)
    {
        while (true)
        {
            var result = await stream.Input.ReadAsync().AsTask().WaitAsync(SignalingPeer.Patience);
            if (result.Buffer.Length >= bytes)
            {
                stream.Input.AdvanceTo(result.Buffer.Start);
                return;
            }
            if (result.IsCompleted) throw new EndOfStreamException($"the stream ended with {result.Buffer.Length} of {bytes} bytes");
            stream.Input.AdvanceTo(result.Buffer.Start, result.Buffer.End); // all seen: the next read waits for more
        }
    }

    /// <summary>Reads whatever the stream still has until it ends; returns how many bytes came.</summary>
    private static async Task<long> ReadToEndAsync(IStream stream)
    {
        long total = 0;
        while (true)
        {
            var result = await stream.Input.ReadAsync().AsTask().WaitAsync(SignalingPeer.Patience);
            total += result.Buffer.Length;
            stream.Input.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted) return total;
        }
    }

    /// <summary>A host relaying a swarm of members whose announcements make a Serve answer of about 1 MiB, its signaling
    /// on <see cref="_clock"/>, and a light peer's signaling stream to it (its first Serve already answered) whose
    /// receive window is pinned at 256 KiB.</summary>
    private async Task<(SignalingPeer Host, IStream Stream, SignalRequest Serve)> ServeManyMembersAsync()
    {
        var host = await SignalingPeer.StartAsync(_network, o =>
        {
            o.AnswerStallTimeout = StallTimeout;
            o.MaxServeAnswerSize = AnswerLimit;
        }, signalingTime: _clock);
        _peers.Add(host);
        var light = await SignalingPeer.StartAsync(_network, withSignaling: false, yamux: o => o.MaxStreamWindowSize = Window);
        _peers.Add(light);
        await light.ConnectAsync(host);
        byte[] swarm = SignalingProtocol.SwarmId(Key);
        var serve = new SignalRequest { Serve = new() { Swarm = ByteString.CopyFrom(swarm) } };
        var stream = await light.Host.OpenStreamAsync(host.PeerId, [SignalingProtocol.HostProtocolId], CancellationToken.None);
        Assert.Equal(SignalResponse.Types.Status.Ok, (await RequestAsync(stream, serve)).Status); // the host now keeps the swarm

        int added = 0;
        long size = 0;
        var now = _clock.GetUtcNow();
        while (size < AnswerLimit - 8 * 1024)
        {
            byte[] envelope = Announcement(swarm, now);
            var presence = SignalingProtocol.Open(envelope, swarm, now, host.Signaling!.Options);
            Assert.True(host.Signaling.TryApply(swarm, presence));
            size += envelope.Length + 4;
            added++;
        }
        output.WriteLine($"{added} members, about {size} bytes of announcements");
        await SignalingPeer.WaitUntil(() => _clock.PendingTimers > 0, "the host's tick loop on its clock");
        _idleTimers = _clock.PendingTimers;
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

    private static async Task SendAsync(IStream stream, SignalRequest request)
    {
        LengthPrefixed.WriteMessage(stream.Output, request);
        await stream.Output.FlushAsync();
    }

    private static async Task<SignalResponse> RequestAsync(IStream stream, SignalRequest request)
    {
        await SendAsync(stream, request);
        return await LengthPrefixed.ReadMessageAsync(stream.Input, 2 << 20, b => SignalResponse.Parser.ParseFrom(b), CancellationToken.None)
            .AsTask().WaitAsync(SignalingPeer.Patience);
    }
}
