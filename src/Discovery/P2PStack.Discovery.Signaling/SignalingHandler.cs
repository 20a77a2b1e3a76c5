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
                    var flush = await stream.Output.FlushAsync(cancellationToken).ConfigureAwait(false);
                    if (flush.IsCompleted) break;
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
            var response = new SignalResponse { Status = SignalResponse.Types.Status.Ok };
            foreach (var member in signaling.Serve(session, swarm.ToByteArray())) response.Members.Add(UnsafeByteOperations.UnsafeWrap(member));
            return response;
        }
        catch (ResourceLimitExceededException e)
        {
            signaling.Metrics.Refused("serve_limit");
            return new SignalResponse { Status = SignalResponse.Types.Status.ELimit, Detail = e.Message };
        }
    }
}
