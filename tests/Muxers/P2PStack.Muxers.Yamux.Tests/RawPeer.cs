using System.Buffers;
using System.IO.Pipelines;
using P2PStack.Conformance.Muxer;
using P2PStack.IO;
using P2PStack.Network;

namespace P2PStack.Muxers.Yamux.Tests;

/// <summary>A hand-driven yamux peer: writes raw frames to a session and reads what it answers.</summary>
internal sealed class RawPeer : IAsyncDisposable
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private RawPeer(YamuxSession session, IDuplexPipe raw)
    {
        Session = session;
        Raw = raw;
    }

    public YamuxSession Session { get; }

    public IDuplexPipe Raw { get; }

    /// <summary>A session under test plus the raw other end. <paramref name="sessionDirection"/> Inbound means the
    /// raw peer is the dialer (odd ids).</summary>
    public static RawPeer Start(Direction sessionDirection = Direction.Inbound, Action<YamuxOptions>? configure = null)
    {
        var options = new YamuxOptions { EnableKeepAlive = false };
        configure?.Invoke(options);
        var (local, raw) = DuplexPipe.CreatePair();
        return new RawPeer(new YamuxSession(local, sessionDirection, options), raw);
    }

    /// <summary>The raw peer opens stream <paramref name="id"/> (SYN) and the session accepts it; with
    /// <paramref name="readAck"/>, the session's ACK is read (and checked) too.</summary>
    public async Task<YamuxStream> AcceptedStreamAsync(uint id, bool readAck = true)
    {
        var accept = Session.AcceptStreamAsync(CancellationToken.None).AsTask();
        await SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, id, 0);
        var stream = (YamuxStream)await accept.WaitAsync(Timeout);
        if (readAck) Assert.True((await ReadFrameAsync()).Header.Has(YamuxFlags.Ack));
        return stream;
    }

    /// <summary>The raw peer resets <paramref name="stream"/> (RST) and waits until the session has taken the reset.</summary>
    public async Task ResetAsync(YamuxStream stream)
    {
        await SendAsync(YamuxFrameType.WindowUpdate, YamuxFlags.Rst, stream.StreamId, 0);
        await WaitUntilAsync(() => stream.HasReadFailure, "the session taking the reset");
    }

    /// <summary>Polls <paramref name="condition"/> until it holds, failing after <see cref="Timeout"/>.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what = "the condition")
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"{what} did not come in time");
            await Task.Delay(5);
        }
    }

    public async Task SendAsync(YamuxFrameType type, YamuxFlags flags, uint streamId, uint length, byte[]? payload = null)
    {
        var header = new byte[YamuxFrameCodec.HeaderLength];
        YamuxFrameCodec.Write(header, new YamuxFrameHeader(type, flags, streamId, length));
        await SendRawAsync(header);
        if (payload is not null)
        {
            await SendRawAsync(payload);
        }
    }

    public async Task SendRawAsync(byte[] bytes) => await Raw.Output.WriteAsync(bytes);

    /// <summary>Reads the next frame the session sent, skipping pings unless asked for them.</summary>
    public async Task<(YamuxFrameHeader Header, byte[] Payload)> ReadFrameAsync(bool skipPings = true)
    {
        while (true)
        {
            var headerBytes = await Raw.Input.ReadExactlyAsync(YamuxFrameCodec.HeaderLength).WaitAsync(Timeout);
            var header = YamuxFrameCodec.Read(headerBytes);
            byte[] payload = header.Type == YamuxFrameType.Data && header.Length > 0
                ? await Raw.Input.ReadExactlyAsync((int)header.Length).WaitAsync(Timeout)
                : [];
            if (skipPings && header.Type == YamuxFrameType.Ping)
            {
                if (header.Has(YamuxFlags.Syn))
                {
                    await SendAsync(YamuxFrameType.Ping, YamuxFlags.Ack, 0, header.Length);
                }

                continue;
            }

            return (header, payload);
        }
    }

    public async Task<YamuxFrameHeader> ReadUntilAsync(Func<YamuxFrameHeader, bool> match)
    {
        while (true)
        {
            var (header, _) = await ReadFrameAsync();
            if (match(header))
            {
                return header;
            }
        }
    }

    /// <summary>Asserts the session answers with go-away <paramref name="code"/> and then ends.</summary>
    public async Task ExpectGoAwayAndEndAsync(GoAwayCode code)
    {
        var goAway = await ReadUntilAsync(h => h.Type == YamuxFrameType.GoAway);
        Assert.Equal((uint)code, goAway.Length);
        await Session.Completion.WaitAsync(Timeout);
        Assert.Equal(0, Session.StreamCount);
    }

    private Task? draining;

    /// <summary>Reads and drops everything the session sends from now on (so its writes never stall).</summary>
    public void StartDraining() => draining = Raw.Input.ReadToEndAsync();

    public async ValueTask DisposeAsync()
    {
        await Session.DisposeAsync();
        if (draining is not null)
        {
            await draining.WaitAsync(Timeout);
        }

        await Raw.Output.CompleteAsync();
        await Raw.Input.CompleteAsync();
    }
}
