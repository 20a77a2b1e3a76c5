using Google.Protobuf;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Security.Noise.Pb;

namespace P2PStack.Security.Noise;

/// <summary>The libp2p handshake payload: identity key, signature over the Noise static key, extensions.</summary>
internal static class HandshakePayload
{
    private static ReadOnlySpan<byte> SignaturePrefix => "noise-libp2p-static-key:"u8;

    /// <summary>The verified identity from a remote payload.</summary>
    internal sealed record RemoteIdentity(PublicKey PublicKey, PeerId PeerId, IReadOnlyList<string> Muxers);

    public static byte[] Create(PrivateKey identity, ReadOnlySpan<byte> staticPublicKey, IReadOnlyList<string> muxers) =>
        Create(identity.PublicKey.ToProtobuf(), Sign(identity, staticPublicKey), muxers);

    /// <summary>The payload from an encoded identity key and its signature over the static key (<see cref="Sign"/>).</summary>
    public static byte[] Create(byte[] identityKey, byte[] signature, IReadOnlyList<string> muxers)
    {
        var payload = new NoiseHandshakePayload
        {
            IdentityKey = ByteString.CopyFrom(identityKey),
            IdentitySig = ByteString.CopyFrom(signature),
        };
        if (muxers.Count > 0)
        {
            payload.Extensions = new NoiseExtensions();
            payload.Extensions.StreamMuxers.AddRange(muxers);
        }

        return payload.ToByteArray();
    }

    /// <summary>The identity's signature over "noise-libp2p-static-key:" and the static key.</summary>
    public static byte[] Sign(PrivateKey identity, ReadOnlySpan<byte> staticPublicKey) => identity.Sign(SignedData(staticPublicKey));

    /// <exception cref="HandshakeException">The payload does not decode or its signature does not verify.</exception>
    public static RemoteIdentity Verify(ReadOnlySpan<byte> encoded, ReadOnlySpan<byte> remoteStaticKey) =>
        Verify(encoded, remoteStaticKey, null, 0);

    /// <summary>As <see cref="Verify(ReadOnlySpan{byte}, ReadOnlySpan{byte})"/>; an identity key, static key and signature
    /// found in <paramref name="verified"/> byte for byte are not verified again.</summary>
    /// <exception cref="HandshakeException">The payload does not decode or its signature does not verify.</exception>
    public static RemoteIdentity Verify(ReadOnlySpan<byte> encoded, ReadOnlySpan<byte> remoteStaticKey,
        VerifiedPayloadCache? verified, int capacity)
    {
        NoiseHandshakePayload payload;
        try
        {
            payload = NoiseHandshakePayload.Parser.ParseFrom(encoded);
        }
        catch (InvalidProtocolBufferException e)
        {
            // Also a string field (a muxer name) that is not UTF-8: Google.Protobuf (3.36) refuses it with this error,
            // the DecoderFallbackException as its inner exception.
            throw new HandshakeException($"malformed Noise handshake payload: {e.Message}", e);
        }

        if (!payload.HasIdentityKey || !payload.HasIdentitySig)
        {
            throw new HandshakeException("Noise handshake payload lacks the identity key or its signature");
        }

        IReadOnlyList<string> muxers = payload.Extensions is { } extensions ? [.. extensions.StreamMuxers] : [];
        if (verified is not null &&
            verified.TryGet(payload.IdentityKey.Span, remoteStaticKey, payload.IdentitySig.Span, capacity, out var knownKey, out var knownPeer))
        {
            return new RemoteIdentity(knownKey, knownPeer, muxers);
        }

        PublicKey key;
        try
        {
            key = PublicKey.FromProtobuf(payload.IdentityKey.Span);
        }
        catch (P2PFormatException e)
        {
            throw new HandshakeException($"invalid identity key in the Noise handshake payload: {e.Message}", e);
        }

        bool valid;
        try
        {
            valid = key.Verify(SignedData(remoteStaticKey), payload.IdentitySig.Span);
        }
        catch (Exception e) when (e is P2PFormatException or System.Security.Cryptography.CryptographicException)
        {
            throw new HandshakeException($"malformed identity signature: {e.Message}", e);
        }

        if (!valid)
        {
            throw new HandshakeException("the identity signature does not verify over the remote Noise static key");
        }

        var peerId = PeerId.FromPublicKey(key);
        verified?.Add(payload.IdentityKey.Span, remoteStaticKey, payload.IdentitySig.Span, capacity, key, peerId);
        return new RemoteIdentity(key, peerId, muxers);
    }

    /// <summary>
    /// Early muxer negotiation (specs connections/inlined-muxer-negotiation.md): the first muxer of the initiator's
    /// list that the responder also supports. Null when either side sent none (negotiate with multistream-select).
    /// </summary>
    /// <exception cref="HandshakeException">Both sides listed muxers but none in common.</exception>
    public static string? SelectMuxer(IReadOnlyList<string> initiatorMuxers, IReadOnlyList<string> responderMuxers)
    {
        if (initiatorMuxers.Count == 0 || responderMuxers.Count == 0)
        {
            return null;
        }

        foreach (var muxer in initiatorMuxers)
        {
            if (responderMuxers.Contains(muxer))
            {
                return muxer;
            }
        }

        throw new HandshakeException("no stream muxer in common: initiator offered [" + string.Join(", ", initiatorMuxers) +
            "], responder supports [" + string.Join(", ", responderMuxers) + "]");
    }

    private static byte[] SignedData(ReadOnlySpan<byte> staticPublicKey)
    {
        var data = new byte[SignaturePrefix.Length + staticPublicKey.Length];
        SignaturePrefix.CopyTo(data);
        staticPublicKey.CopyTo(data.AsSpan(SignaturePrefix.Length));
        return data;
    }
}
