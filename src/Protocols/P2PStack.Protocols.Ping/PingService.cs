using System.Diagnostics;
using System.Security.Cryptography;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Protocols.Ping;

/// <summary>
/// Measures round trips to a peer over <c>/ipfs/ping/1.0.0</c> and records them in the peer store's latency
/// statistics (current, min, max, average).
/// </summary>
public sealed class PingService(IPeerHost host)
{
    /// <summary>Sends <paramref name="count"/> pings on one stream; returns each round-trip time.</summary>
    /// <exception cref="InvalidDataException">The peer answered with different bytes.</exception>
    public async Task<IReadOnlyList<TimeSpan>> PingAsync(PeerId peer, int count, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var stream = await host.OpenStreamAsync(peer, [PingProtocol.Id], cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            return await PingAsync(stream, count, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Pings over an already negotiated stream.</summary>
    public async Task<IReadOnlyList<TimeSpan>> PingAsync(IStream stream, int count, CancellationToken cancellationToken)
    {
        var sent = new byte[PingProtocol.PayloadSize];
        var received = new byte[PingProtocol.PayloadSize];
        var rtts = new List<TimeSpan>(count);
        for (int i = 0; i < count; i++)
        {
            RandomNumberGenerator.Fill(sent);
            long start = Stopwatch.GetTimestamp();
            await stream.Output.WriteAsync(sent, cancellationToken).ConfigureAwait(false);
            if (!await PingProtocol.ReadPayloadAsync(stream.Input, received, cancellationToken).ConfigureAwait(false))
                throw new InvalidDataException("the peer closed the ping stream");
            var rtt = Stopwatch.GetElapsedTime(start);
            if (!sent.AsSpan().SequenceEqual(received))
                throw new InvalidDataException("the peer answered the ping with different bytes");
            rtts.Add(rtt);
            host.PeerStore.RecordLatency(stream.Connection.RemotePeer, rtt);
        }
        await stream.Output.CompleteAsync().ConfigureAwait(false);
        return rtts;
    }
}
