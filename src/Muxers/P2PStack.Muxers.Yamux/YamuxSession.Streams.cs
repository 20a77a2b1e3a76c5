using System.Threading.Channels;
using P2PStack.Network;

namespace P2PStack.Muxers.Yamux;

/// <summary>Streams: opening, accepting and forgetting streams, and the counts and limits that go with them.</summary>
public sealed partial class YamuxSession
{
    private bool IsLocalStreamId(uint id) => (id & 1) == (nextLocalStreamId & 1);

    public ValueTask<IMuxedStream> OpenStreamAsync(CancellationToken cancellationToken) => OpenStreamAsync(flushSyn: true, cancellationToken);

    /// <summary>As <see cref="OpenStreamAsync(CancellationToken)"/>, but the SYN is written to the connection unflushed:
    /// the stream's first data frame (or any other frame of the session) flushes it, in the same write.</summary>
    public ValueTask<IMuxedStream> OpenStreamForFirstWriteAsync(CancellationToken cancellationToken) => OpenStreamAsync(flushSyn: false, cancellationToken);

    private async ValueTask<IMuxedStream> OpenStreamAsync(bool flushSyn, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        // The receive window is what the remote may make us buffer: reserved before the stream exists.
        Memory?.ReserveMemory(Options.InitialStreamWindowSize);
        YamuxStream stream;
        try
        {
            stream = AddOutboundStream();
        }
        catch
        {
            Memory?.ReleaseMemory(Options.InitialStreamWindowSize);
            throw;
        }

        bool written = false;
        try
        {
            await WriteFrameAsync(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Syn, stream.StreamId,
                stream.AnnouncedWindowExtra), () => written = true, cancellationToken, flushSyn).ConfigureAwait(false);
        }
        catch
        {
            if (written)
            {
                stream.Reset();
            }
            else
            {
                stream.Abandon();
            }

            throw;
        }

        return stream;
    }

    private YamuxStream AddOutboundStream()
    {
        lock (streamsGate)
        {
            if (endReason is not null)
            {
                throw new MuxerClosedException("yamux session has ended", endReason);
            }

            if (localGoAway || remoteGoAway)
            {
                throw new MuxerClosedException(localGoAway ? "yamux session is closing" : "remote yamux session is going away");
            }

            if (outboundCount >= Options.MaxOutboundStreams)
            {
                throw new ResourceLimitExceededException("yamux session", "outbound streams", Options.MaxOutboundStreams);
            }

            if (nextLocalStreamId > uint.MaxValue - 2)
            {
                throw new MuxerClosedException("yamux stream ids are exhausted on this session");
            }

            var stream = new YamuxStream(this, nextLocalStreamId, Direction.Outbound, Memory is null ? 0 : Options.InitialStreamWindowSize);
            nextLocalStreamId += 2;
            streams.Add(stream.StreamId, stream);
            outboundCount++;
            return stream;
        }
    }

    public async ValueTask<IMuxedStream> AcceptStreamAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await acceptQueue.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            throw new MuxerClosedException("yamux session has ended", endReason);
        }
    }

    internal void RemoveStream(YamuxStream stream)
    {
        lock (streamsGate)
        {
            if (!streams.Remove(stream.StreamId, out var existing))
            {
                return;
            }

            if (!ReferenceEquals(existing, stream))
            {
                streams.Add(existing.StreamId, existing);
                return;
            }

            if (stream.Direction == Direction.Outbound)
            {
                outboundCount--;
            }
            else
            {
                inboundCount--;
            }

            if (streams.Count == 0)
            {
                drained?.TrySetResult();
            }
        }
    }
}
