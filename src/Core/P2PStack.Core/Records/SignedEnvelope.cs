using System.Buffers;
using Google.Protobuf;
using P2PStack.Encoding;
using P2PStack.Identity;

namespace P2PStack.Records;

/// <summary>
/// A payload signed by a libp2p key (RFC 0002). The signature covers the domain string, payload type and payload, each
/// prefixed by its unsigned-varint length, so a signature made for one domain never verifies in another.
/// Instances are always verified: <see cref="Seal"/> signs, <see cref="Open"/> checks before returning.
/// </summary>
public sealed class SignedEnvelope
{
    /// <summary>Default bound on an encoded envelope accepted by <see cref="Open"/>.</summary>
    public const int DefaultMaxSize = 64 * 1024;

    private readonly byte[] _payloadType;
    private readonly byte[] _payload;
    private readonly byte[] _signature;
    private PeerId? _signer;

    private SignedEnvelope(PublicKey publicKey, byte[] payloadType, byte[] payload, byte[] signature)
    {
        PublicKey = publicKey;
        _payloadType = payloadType;
        _payload = payload;
        _signature = signature;
    }

    public PublicKey PublicKey { get; }

    /// <summary>Multicodec-prefixed hint of what the payload is.</summary>
    public ReadOnlyMemory<byte> PayloadType => _payloadType;

    public ReadOnlyMemory<byte> Payload => _payload;

    public ReadOnlyMemory<byte> Signature => _signature;

    /// <summary>Peer id of the signing key.</summary>
    public PeerId Signer => _signer ??= PeerId.FromPublicKey(PublicKey);

    /// <summary>Signs <paramref name="payload"/> for <paramref name="domain"/> with <paramref name="key"/>.</summary>
    public static SignedEnvelope Seal(string domain, ReadOnlySpan<byte> payloadType, ReadOnlySpan<byte> payload, PrivateKey key)
    {
        ArgumentException.ThrowIfNullOrEmpty(domain);
        ArgumentNullException.ThrowIfNull(key);
        if (payloadType.IsEmpty) throw new ArgumentException("payload type must not be empty", nameof(payloadType));
        byte[] signature = WithSigningBuffer(domain, payloadType, payload, key, static (buffer, signer) => signer.Sign(buffer));
        return new SignedEnvelope(key.PublicKey, payloadType.ToArray(), payload.ToArray(), signature);
    }

    /// <summary>Decodes an envelope and verifies its signature for <paramref name="domain"/>.</summary>
    /// <exception cref="EnvelopeException">Oversized, malformed, or the signature does not verify.</exception>
    public static SignedEnvelope Open(ReadOnlySpan<byte> encoded, string domain, int maxSize = DefaultMaxSize)
    {
        ArgumentException.ThrowIfNullOrEmpty(domain);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxSize);
        if (encoded.Length > maxSize) throw new EnvelopeException($"envelope is {encoded.Length} bytes, more than the {maxSize} allowed");

        Pb.Envelope message;
        try { message = Pb.Envelope.Parser.ParseFrom(encoded); }
        catch (InvalidProtocolBufferException e) { throw new EnvelopeException($"envelope is not a valid protobuf: {e.Message}", e); }

        var keyMessage = message.PublicKey;
        if (keyMessage is null || !keyMessage.HasType || !keyMessage.HasData) throw new EnvelopeException("envelope has no (complete) public key");
        PublicKey publicKey;
        try { publicKey = PublicKey.FromRaw((KeyType)keyMessage.Type, keyMessage.Data.Span); }
        catch (KeyFormatException e) { throw new EnvelopeException($"envelope public key is invalid: {e.Message}", e); }
        if (message.PayloadType.IsEmpty) throw new EnvelopeException("envelope has an empty payload type");
        if (message.Signature.IsEmpty) throw new EnvelopeException("envelope has no signature");

        byte[] payloadType = message.PayloadType.ToByteArray();
        byte[] payload = message.Payload.ToByteArray();
        byte[] signature = message.Signature.ToByteArray();
        bool valid = WithSigningBuffer(domain, payloadType, payload, (publicKey, signature),
            static (buffer, state) => state.publicKey.Verify(buffer, state.signature));
        if (!valid)
            throw new EnvelopeException($"envelope signature does not verify for domain \"{domain}\" (wrong domain, or payload or signature altered)");
        return new SignedEnvelope(publicKey, payloadType, payload, signature);
    }

    /// <summary>The envelope protobuf.</summary>
    public byte[] ToBytes()
    {
        var message = new Pb.Envelope
        {
            PublicKey = new Identity.Pb.PublicKey { Type = (Identity.Pb.KeyType)PublicKey.Type, Data = ByteString.CopyFrom(PublicKey.Raw.Span) },
            PayloadType = ByteString.CopyFrom(_payloadType),
            Payload = ByteString.CopyFrom(_payload),
            Signature = ByteString.CopyFrom(_signature),
        };
        return message.ToByteArray();
    }

    private delegate TResult SigningBufferAction<TState, TResult>(ReadOnlySpan<byte> buffer, TState state);

    /// <summary>Builds varint(len(domain)) domain varint(len(type)) type varint(len(payload)) payload in a pooled buffer.</summary>
    private static TResult WithSigningBuffer<TState, TResult>(string domain, ReadOnlySpan<byte> payloadType, ReadOnlySpan<byte> payload,
        TState state, SigningBufferAction<TState, TResult> action)
    {
        int domainLength = System.Text.Encoding.UTF8.GetByteCount(domain);
        int total = Varint.SizeOf((ulong)domainLength) + domainLength
            + Varint.SizeOf((ulong)payloadType.Length) + payloadType.Length
            + Varint.SizeOf((ulong)payload.Length) + payload.Length;
        byte[] rented = ArrayPool<byte>.Shared.Rent(total);
        try
        {
            var buffer = rented.AsSpan(0, total);
            int offset = Varint.Write((ulong)domainLength, buffer);
            offset += System.Text.Encoding.UTF8.GetBytes(domain, buffer[offset..]);
            offset += Varint.Write((ulong)payloadType.Length, buffer[offset..]);
            payloadType.CopyTo(buffer[offset..]);
            offset += payloadType.Length;
            offset += Varint.Write((ulong)payload.Length, buffer[offset..]);
            payload.CopyTo(buffer[offset..]);
            return action(buffer, state);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }
}
