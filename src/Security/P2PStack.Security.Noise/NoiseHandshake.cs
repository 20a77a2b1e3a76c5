using System.Buffers.Binary;
using System.IO.Pipelines;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Security.Noise.Protocol;

namespace P2PStack.Security.Noise;

/// <summary>
/// Runs the libp2p Noise handshake (XX or XXhfs) over a raw connection: message 1 carries no payload, messages 2
/// and 3 carry the sender's signed identity and its muxer list. On any failure the raw connection is aborted, so
/// the peer does not wait for a handshake that will not finish.
/// </summary>
internal static class NoiseHandshake
{
    public static async ValueTask<ISecureConnection> RunAsync(NoiseSuite suite, ILocalIdentity identity,
        NoiseOptions options, NoiseKeyCaches caches, IRawConnection raw, bool initiator, PeerId? expectedRemotePeer,
        IReadOnlyList<string> muxers, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.HandshakeTimeout);
        try
        {
            return await RunCoreAsync(suite, identity, options, caches, raw, initiator, expectedRemotePeer, muxers, timeout.Token)
                .ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            raw.Abort();
            throw;
        }
        catch (OperationCanceledException e) when (timeout.IsCancellationRequested)
        {
            raw.Abort();
            throw new HandshakeException(
                $"{suite.ProtocolId} handshake took longer than NoiseOptions.HandshakeTimeout ({options.HandshakeTimeout.TotalSeconds:0.###} s)",
                new TimeoutException(e.Message, e));
        }
        catch (System.Security.Authentication.AuthenticationException)
        {
            raw.Abort(); // HandshakeException or PeerIdMismatchException: already say what went wrong
            throw;
        }
        catch (Exception e)
        {
            raw.Abort();
            throw new HandshakeException($"{suite.ProtocolId} handshake failed: {e.Message}", e);
        }
    }

    private static async ValueTask<ISecureConnection> RunCoreAsync(NoiseSuite suite, ILocalIdentity identity,
        NoiseOptions options, NoiseKeyCaches caches, IRawConnection raw, bool initiator, PeerId? expectedRemotePeer,
        IReadOnlyList<string> muxers, CancellationToken cancellationToken)
    {
        // The identity's static key and its signature, reused for NoiseOptions.StaticKeyLifetime (NoiseStaticKeys).
        // Held until the handshake ends: an evicted or replaced key is freed only once no handshake uses it.
        var staticKey = caches.StaticKeys.Get(identity, options);
        try
        {
            using var state = new HandshakeState(suite.Protocol, initiator, ReadOnlySpan<byte>.Empty, staticKey.Key);
            byte[] localPayload = HandshakePayload.Create(staticKey.IdentityKey, staticKey.Signature, muxers);
            var verify = (caches.VerifiedPayloads, options.VerifiedPayloadCacheSize);

            HandshakePayload.RemoteIdentity remote;
            string? earlyMuxer;
            if (initiator)
            {
                await WriteAsync(raw.Output, state, [], cancellationToken).ConfigureAwait(false);
                remote = await ReadIdentityAsync(raw.Input, state, verify, cancellationToken).ConfigureAwait(false);
                CheckExpected(expectedRemotePeer, remote.PeerId);
                earlyMuxer = HandshakePayload.SelectMuxer(muxers, remote.Muxers);
                await WriteAsync(raw.Output, state, localPayload, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                // Message 1 may carry a payload (not authenticated, no secrecy); libp2p gives it no meaning.
                await ReadAsync(raw.Input, state, cancellationToken).ConfigureAwait(false);
                await WriteAsync(raw.Output, state, localPayload, cancellationToken).ConfigureAwait(false);
                remote = await ReadIdentityAsync(raw.Input, state, verify, cancellationToken).ConfigureAwait(false);
                earlyMuxer = HandshakePayload.SelectMuxer(remote.Muxers, muxers);
            }

            var (send, receive) = state.Split();
            return new NoiseConnection(raw, suite, send, receive, remote.PublicKey, remote.PeerId, earlyMuxer,
                state.HandshakeHash.ToArray(), options);
        }
        finally
        {
            staticKey.Release();
        }
    }

    private static void CheckExpected(PeerId? expected, PeerId actual)
    {
        if (expected is not null && expected != actual)
        {
            throw new PeerIdMismatchException(expected, actual);
        }
    }

    private static async ValueTask<HandshakePayload.RemoteIdentity> ReadIdentityAsync(PipeReader input,
        HandshakeState state, (VerifiedPayloadCache Cache, int Capacity) verified, CancellationToken cancellationToken)
    {
        byte[] payload = await ReadAsync(input, state, cancellationToken).ConfigureAwait(false);
        return HandshakePayload.Verify(payload, state.RemoteStaticPublicKey, verified.Cache, verified.Capacity);
    }

    private static async ValueTask<byte[]> ReadAsync(PipeReader input, HandshakeState state, CancellationToken cancellationToken)
    {
        int number = state.MessageIndex + 1;
        byte[] message = await NoiseFraming.ReadMessageAsync(input, number, cancellationToken).ConfigureAwait(false);
        var payload = new byte[message.Length];
        try
        {
            int length = state.ReadMessage(message, payload);
            return payload[..length];
        }
        catch (NoiseException e)
        {
            throw new HandshakeException($"handshake message {number} rejected: {e.Message}", e);
        }
    }

    private static async ValueTask WriteAsync(PipeWriter output, HandshakeState state, byte[] payload,
        CancellationToken cancellationToken)
    {
        int length = state.GetNextMessageLength(payload.Length);
        if (length > NoiseFraming.MaxMessageLength)
        {
            throw new HandshakeException(
                $"handshake message {state.MessageIndex + 1} would be {length} bytes, over the {NoiseFraming.MaxMessageLength}-byte limit");
        }

        Span<byte> frame = output.GetSpan(NoiseFraming.PrefixLength + length);
        BinaryPrimitives.WriteUInt16BigEndian(frame, (ushort)length);
        state.WriteMessage(payload, frame.Slice(NoiseFraming.PrefixLength, length));
        output.Advance(NoiseFraming.PrefixLength + length);
        var flush = await output.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (flush.IsCompleted || flush.IsCanceled)
        {
            throw new HandshakeException($"connection closed by the remote during the handshake (message {state.MessageIndex})");
        }
    }
}
