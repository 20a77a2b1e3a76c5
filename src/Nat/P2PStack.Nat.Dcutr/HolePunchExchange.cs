using System.Diagnostics;
using System.IO.Pipelines;
using P2PStack.Addressing;

namespace P2PStack.Nat.Dcutr;

/// <summary>What one round of the exchange gave this side: the remote's addresses and, for the initiator, the
/// measured round trip of the relayed connection.</summary>
public sealed record HolePunchRound(IReadOnlyList<Multiaddr> RemoteAddresses, TimeSpan RoundTrip);

/// <summary>
/// The message exchange of one DCUtR attempt (spec steps 1-5), apart from dialing: the initiator (the peer that
/// accepted the relayed connection, "B") sends CONNECT and times the answer, sends SYNC and waits half the round
/// trip before dialing; the responder ("A") answers CONNECT and dials as soon as SYNC arrives. Each attempt repeats
/// CONNECT and SYNC so that a bad RTT measurement does not distort the retries.
/// </summary>
public static class HolePunchExchange
{
    /// <summary>Initiator side of one attempt; returns once it is time to dial (half an RTT after SYNC went out).</summary>
    public static async Task<HolePunchRound> InitiateAsync(IDuplexPipe stream, IReadOnlyList<Multiaddr> ourAddresses, TimeProvider time,
        CancellationToken cancellationToken)
    {
        long start = time.GetTimestamp();
        await DcutrProtocol.WriteConnectAsync(stream.Output, ourAddresses, cancellationToken).ConfigureAwait(false);
        var theirs = await DcutrProtocol.ReadConnectAsync(stream.Input, cancellationToken).ConfigureAwait(false);
        var rtt = time.GetElapsedTime(start);
        await DcutrProtocol.WriteSyncAsync(stream.Output, cancellationToken).ConfigureAwait(false);
        // The SYNC reaches the responder after about half a round trip; it dials at once, so both SYNs leave together.
        await Task.Delay(rtt / 2, time, cancellationToken).ConfigureAwait(false);
        return new HolePunchRound(theirs, rtt);
    }

    /// <summary>Responder side of one attempt; returns when SYNC arrived (time to dial at once). Returns null when the
    /// initiator ended the stream instead of starting another attempt.</summary>
    public static async Task<HolePunchRound?> RespondAsync(IDuplexPipe stream, IReadOnlyList<Multiaddr> ourAddresses, CancellationToken cancellationToken,
        Action<IReadOnlyList<Multiaddr>>? connectReceived = null)
    {
        if (await EndedAsync(stream.Input, cancellationToken).ConfigureAwait(false)) return null; // clean end between attempts
        var theirs = await DcutrProtocol.ReadConnectAsync(stream.Input, cancellationToken).ConfigureAwait(false);
        connectReceived?.Invoke(theirs);
        await DcutrProtocol.WriteConnectAsync(stream.Output, ourAddresses, cancellationToken).ConfigureAwait(false);
        await DcutrProtocol.ReadSyncAsync(stream.Input, cancellationToken).ConfigureAwait(false);
        return new HolePunchRound(theirs, TimeSpan.Zero);
    }

    /// <summary>Waits for data or the end of the stream; true at a clean end (nothing buffered).</summary>
    private static async Task<bool> EndedAsync(PipeReader input, CancellationToken cancellationToken)
    {
        var result = await input.ReadAsync(cancellationToken).ConfigureAwait(false);
        bool ended = result.Buffer.IsEmpty && result.IsCompleted;
        input.AdvanceTo(result.Buffer.Start);
        return ended;
    }

    /// <summary>The addresses worth a hole punch: public, direct, TCP (the only hole-punchable transport we have).</summary>
    public static IReadOnlyList<Multiaddr> Punchable(IEnumerable<Multiaddr> addresses, bool allowPrivate) =>
        [.. addresses.Where(a => !AddressScope.IsRelayed(a) && a.Has(MultiaddrProtocols.Tcp) && !a.Has(MultiaddrProtocols.Ws)
            && a.GetIPAddress() is { } ip && (allowPrivate || AddressScope.IsPublic(ip))).Distinct()];
}
