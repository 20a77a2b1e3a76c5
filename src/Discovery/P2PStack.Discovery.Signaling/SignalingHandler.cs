using System.IO.Pipelines;
using Google.Protobuf;
using Microsoft.Extensions.DependencyInjection;
using P2PStack.Discovery.Signaling.Pb;
using P2PStack.IO;
using P2PStack.Network;

namespace P2PStack.Discovery.Signaling;

/// <summary>
/// Serves <c>/synaptic/signal/1.0.0</c> for peers that cannot run the DHT (browsers): on one long-lived stream, each
/// length-prefixed <c>SignalRequest</c> (Serve or Release a swarm id) gets one <c>SignalResponse</c>; a Serve answers
/// with the signed presence of the swarm's live members. When the stream ends the swarms stay relayed for the grace
/// period. A malformed request resets the stream; every refusal is counted.
/// </summary>
public sealed class SignalingHandler(IServiceProvider services) : IProtocolHandler
{
    private const int MaxRequestSize = 256;

    private SwarmSignaling Signaling => services.GetRequiredService<SwarmSignaling>();

    public IReadOnlyList<string> Protocols { get; } = [SignalingProtocol.HostProtocolId];

    public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
    {
        var signaling = Signaling;
        await using (stream.ConfigureAwait(false))
        {
            long session = signaling.OpenSession(stream.Connection.RemotePeer);
            // Only the first request has a deadline: a session that serves a swarm lives as long as the light peer's page.
            var firstRequest = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            firstRequest.CancelAfter(signaling.Options.FirstRequestTimeout);
            bool anyRequest = false;
            try
            {
                var readToken = firstRequest.Token;
                while (await LengthPrefixed.ReadMessageOrEndAsync(stream.Input, MaxRequestSize, readToken).ConfigureAwait(false) is { } frame)
                {
                    readToken = cancellationToken;
                    anyRequest = true;
                    SignalResponse response;
                    using (frame) response = Handle(signaling, session, frame.Span);
                    LengthPrefixed.WriteMessage(stream.Output, response);
                    if (!await FlushAnswerAsync(signaling, stream, cancellationToken).ConfigureAwait(false)) return;
                }
                await stream.Output.CompleteAsync().ConfigureAwait(false);
            }
            catch (P2PFormatException e)
            {
                signaling.Metrics.Refused(e is LengthPrefixException ? "oversized" : "malformed");
                stream.Reset();
            }
            catch (OperationCanceledException) when (!anyRequest && firstRequest.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                signaling.Metrics.Refused("idle");
                stream.Reset();
            }
            catch (Exception e) when (e is IOException or EndOfStreamException or OperationCanceledException or ObjectDisposedException)
            {
                stream.Reset();
            }
            finally
            {
                firstRequest.Dispose();
                signaling.CloseSession(session);
            }
        }
    }

    /// <summary>
    /// Flushes an answer into the stream's flow-control window. While the flush waits, the bytes it has yet to send are
    /// looked at a few times per <see cref="SwarmSignalingOptions.AnswerStallTimeout"/>: any decrease is progress (the
    /// peer granted window and took more of the answer), and only a wait of that long with none cuts the peer off
    /// (stream reset, counted <c>stalled</c>), so the host does not hold the answer for as long as the peer's connection
    /// lives, yet a slow peer that keeps reading gets all of it. False when the stream ended (by the peer or the cut).
    /// </summary>
    private static async Task<bool> FlushAnswerAsync(SwarmSignaling signaling, IStream stream, CancellationToken cancellationToken)
    {
        var output = stream.Output;
        long size = Unflushed(output);
        using var write = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            var pending = output.FlushAsync(write.Token);
            FlushResult flush;
            if (pending.IsCompleted)
            {
                flush = await pending.ConfigureAwait(false);
            }
            else
            {
                // The peer's window is full: watch the flush (awaited once, as a task) for progress.
                var waiting = pending.AsTask();
                if (!await WatchProgressAsync(waiting, output, size, signaling.Options.AnswerStallTimeout, signaling.Time).ConfigureAwait(false))
                    await write.CancelAsync().ConfigureAwait(false);
                flush = await waiting.ConfigureAwait(false);
            }
            if (!flush.IsCanceled) return !flush.IsCompleted;
        }
        catch (OperationCanceledException) when (write.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
        }
        cancellationToken.ThrowIfCancellationRequested();
        string unflushed = size < 0 ? "" : $" ({Unflushed(output)} of {size} bytes not taken)";
        signaling.RefusedStream(stream.Connection.RemotePeer, "stalled",
            $"the peer took none of an answer for {signaling.Options.AnswerStallTimeout.TotalSeconds:0.###} s (AnswerStallTimeout){unflushed}; stream reset");
        stream.Reset();
        return false;
    }

    /// <summary>Waits for <paramref name="flush"/>; false when <paramref name="stallTimeout"/> passed with no byte of the
    /// answer taken (the writer's unflushed bytes did not go down). A writer that cannot tell its unflushed bytes shows no
    /// progress: the stall timeout then bounds the whole flush.</summary>
    /// <remarks>The flush is linked to the caller's token: a cancellation ends it, and with it this wait.</remarks>
    private static async Task<bool> WatchProgressAsync(Task flush, PipeWriter output, long size, TimeSpan stallTimeout, TimeProvider time)
    {
        // A few looks per stall timeout; at least a millisecond apart (a tiny timeout must not make this a spin).
        var check = TimeSpan.FromTicks(Math.Max(stallTimeout.Ticks / 4, TimeSpan.TicksPerMillisecond));
        long left = size, lastProgress = time.GetTimestamp();
        while (true)
        {
            var remaining = stallTimeout - time.GetElapsedTime(lastProgress);
            if (flush.IsCompleted) return true;
            if (remaining > TimeSpan.Zero)
            {
                try
                {
                    await flush.WaitAsync(remaining < check ? remaining : check, time).ConfigureAwait(false);
                    return true;
                }
                catch (TimeoutException)
                {
                }
                catch (Exception) when (flush.IsCompleted)
                {
                    return true; // the flush's own failure is the caller's to see
                }
            }
            long now = Unflushed(output);
            if (now >= 0 && now < left)
            {
                left = now;
                lastProgress = time.GetTimestamp();
            }
            else if (time.GetElapsedTime(lastProgress) >= stallTimeout)
            {
                return false;
            }
        }
    }

    /// <summary>The bytes written and not yet taken by the flush, or -1 when the writer cannot tell.</summary>
    private static long Unflushed(PipeWriter output) => output.CanGetUnflushedBytes ? output.UnflushedBytes : -1;

    private static SignalResponse Handle(SwarmSignaling signaling, long session, ReadOnlySpan<byte> bytes)
    {
        SignalRequest request;
        try
        {
            request = SignalRequest.Parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new SignalingFormatException("malformed", $"request is not a valid protobuf: {e.Message}");
        }
        var swarm = request.RequestCase switch
        {
            SignalRequest.RequestOneofCase.Serve => request.Serve.Swarm,
            SignalRequest.RequestOneofCase.Release => request.Release.Swarm,
            _ => ByteString.Empty,
        };
        if (swarm.Length != SignalingProtocol.SwarmIdLength)
        {
            signaling.Metrics.Refused("malformed");
            return new SignalResponse { Status = SignalResponse.Types.Status.EInvalid, Detail = "a request names one 32-byte swarm id" };
        }
        if (request.RequestCase == SignalRequest.RequestOneofCase.Release)
        {
            signaling.Release(session, swarm.ToByteArray());
            return new SignalResponse { Status = SignalResponse.Types.Status.Ok };
        }
        try
        {
            return ServeAnswer(signaling.Serve(session, swarm.ToByteArray()), signaling.Options.MaxServeAnswerSize, signaling.Metrics);
        }
        catch (ResourceLimitExceededException e)
        {
            signaling.Metrics.Refused("serve_limit");
            return new SignalResponse { Status = SignalResponse.Types.Status.ELimit, Detail = e.Message };
        }
    }

    /// <summary>The OK answer to a Serve: the members in order while the answer stays within <paramref name="maxSize"/>
    /// bytes; the rest are counted in <c>omitted</c> and named in <c>detail</c>.</summary>
    internal static SignalResponse ServeAnswer(IReadOnlyList<byte[]> members, int maxSize, SignalingMetrics metrics)
    {
        var response = new SignalResponse { Status = SignalResponse.Types.Status.Ok };
        int budget = maxSize - SwarmSignalingOptions.ServeAnswerOverhead, size = 0;
        uint omitted = 0;
        foreach (var member in members)
        {
            int cost = 1 + CodedOutputStream.ComputeLengthSize(member.Length) + member.Length; // field 3: tag, length, bytes
            if (size + cost > budget)
            {
                omitted++;
                continue;
            }
            size += cost;
            response.Members.Add(UnsafeByteOperations.UnsafeWrap(member));
        }
        if (omitted > 0)
        {
            response.Omitted = omitted;
            response.Detail = $"{omitted} of {members.Count} members left out to keep the answer within {maxSize} bytes (MaxServeAnswerSize); they arrive with their next announcements";
            metrics.ServeTruncated(omitted);
        }
        return response;
    }
}
