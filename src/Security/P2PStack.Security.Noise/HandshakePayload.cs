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

    public static byte[] Create(PrivateKey identity, ReadOnlySpan<byte> staticPublicKey, IReadOnlyList<string> muxers)
    {
        var payload = new NoiseHandshakePayload
        {
            IdentityKey = ByteString.CopyFrom(identity.PublicKey.ToProtobuf()),
            IdentitySig = ByteString.CopyFrom(identity.Sign(SignedData(staticPublicKey))),
        };
        if (muxers.Count > 0)
        {
            payload.Extensions = new NoiseExtensions();
            payload.Extensions.StreamMuxers.AddRange(muxers);
        }

        return payload.ToByteArray();
    }

    /// <exception cref="HandshakeException">The payload does not decode or its signature does not verify.</exception>
    public static RemoteIdentity Verify(ReadOnlySpan<byte> encoded, ReadOnlySpan<byte> remoteStaticKey)
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

        IReadOnlyList<string> muxers = payload.Extensions is { } extensions ? [.. extensions.StreamMuxers] : [];
        return new RemoteIdentity(key, PeerId.FromPublicKey(key), muxers);
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
