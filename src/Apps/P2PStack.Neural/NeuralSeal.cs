using System.Buffers.Binary;
using System.Security.Cryptography;
using Google.Protobuf;
using P2PStack.Crypto.MLKem;
using P2PStack.Neural.Messages;

namespace P2PStack.Neural;

/// <summary>
/// End-to-end sealing of a direct or agent message's body (docs/specs/neural-seal.md): an HPKE-style one-shot seal with
/// the X-Wing KEM (X25519 + ML-KEM-768) and ChaCha20-Poly1305, the associated data binding the seal to the signed
/// message's header (source peer, id, type, destination, times, correlation), so a seal cannot be moved into another
/// message. Forwarders carry the sealed body and cannot read it.
/// </summary>
public static class NeuralSeal
{
    public const int KeyIdLength = 8;

    private const int TagLength = 16;
    private static ReadOnlySpan<byte> Label => "synaptic-neural-seal/1"u8;

    /// <summary>The key id of an X-Wing public key: the first 8 bytes of its SHA-256.</summary>
    public static byte[] KeyId(ReadOnlySpan<byte> publicKey) => SHA256.HashData(publicKey)[..KeyIdLength];

    /// <summary>Seals <paramref name="body"/> for the holder of <paramref name="recipientPublicKey"/>, bound to the
    /// header fields of <paramref name="header"/> (whose body is ignored).</summary>
    public static SealedBody Seal(NeuralMessage header, IMessage body, ReadOnlySpan<byte> recipientPublicKey)
    {
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(body);
        var inner = new NeuralMessage();
        NeuralMessageTypes.SetBody(inner, body);
        byte[] plaintext = inner.ToByteArray();
        byte[] keyId = KeyId(recipientPublicKey);
        var encapsulation = new byte[XWingKem.CiphertextSize];
        Span<byte> shared = stackalloc byte[XWingKem.SharedSecretSize];
        using (var recipient = XWingKem.FromPublicKey(recipientPublicKey))
            recipient.Encapsulate(encapsulation, shared);
        var ciphertext = new byte[plaintext.Length + TagLength];
        Encrypt(shared, encapsulation, keyId, header, plaintext, ciphertext);
        shared.Clear();
        return new SealedBody
        {
            KeyId = ByteString.CopyFrom(keyId),
            Encapsulation = UnsafeByteOperations.UnsafeWrap(encapsulation),
            Ciphertext = UnsafeByteOperations.UnsafeWrap(ciphertext),
        };
    }

    /// <summary>Opens a sealed body with the recipient's key and returns the body inside, which must match the
    /// message's type.</summary>
    /// <exception cref="NeuralSealException">Another key, a modified seal or header, or a body of another type.</exception>
    public static IMessage Open(NeuralMessage message, XWingKem recipient)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(recipient);
        if (message.BodyCase != NeuralMessage.BodyOneofCase.Sealed) throw new NeuralSealException("the message is not sealed");
        var sealedBody = message.Sealed;
        byte[] publicKey = recipient.ExportPublicKey();
        byte[] keyId = KeyId(publicKey);
        if (!sealedBody.KeyId.Span.SequenceEqual(keyId)) throw new NeuralSealException("sealed to another key");
        if (sealedBody.Encapsulation.Length != XWingKem.CiphertextSize) throw new NeuralSealException("the encapsulation is not an X-Wing ciphertext");
        if (sealedBody.Ciphertext.Length < TagLength) throw new NeuralSealException("the ciphertext is shorter than its tag");
        Span<byte> shared = stackalloc byte[XWingKem.SharedSecretSize];
        recipient.Decapsulate(sealedBody.Encapsulation.Span, shared);
        var plaintext = new byte[sealedBody.Ciphertext.Length - TagLength];
        try
        {
            Decrypt(shared, sealedBody.Encapsulation.Span, keyId, message, sealedBody.Ciphertext.Span, plaintext);
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new NeuralSealException("the seal does not open: modified, or moved from another message");
        }
        finally
        {
            shared.Clear();
        }
        return InnerBody(message, plaintext);
    }

    public const int SwarmKeySize = 32;
    private const int NonceLength = 12;
    private static ReadOnlySpan<byte> SwarmLabel => "synaptic-neural-swarm-seal/1"u8;

    /// <summary>Seals a swarm message's body with the key the swarm's members share (random nonce; the derived
    /// key is the swarm's: HKDF-SHA256(swarm key, info = label || swarm name)).</summary>
    public static SealedBody SealForSwarm(NeuralMessage header, IMessage body, ReadOnlySpan<byte> swarmKey, string swarm)
    {
        ArgumentNullException.ThrowIfNull(header);
        ArgumentNullException.ThrowIfNull(body);
        if (swarmKey.Length != SwarmKeySize) throw new ArgumentException($"a swarm key is {SwarmKeySize} bytes", nameof(swarmKey));
        var inner = new NeuralMessage();
        NeuralMessageTypes.SetBody(inner, body);
        byte[] plaintext = inner.ToByteArray();
        byte[] keyId = KeyId(swarmKey);
        byte[] nonce = RandomNumberGenerator.GetBytes(NonceLength);
        var ciphertext = new byte[plaintext.Length + TagLength];
        Span<byte> key = stackalloc byte[32];
        DeriveSwarmKey(swarmKey, swarm, key);
        using (var aead = new ChaCha20Poly1305(key))
            aead.Encrypt(nonce, plaintext, ciphertext.AsSpan(0, plaintext.Length), ciphertext.AsSpan(plaintext.Length), AssociatedData(header, keyId));
        key.Clear();
        return new SealedBody
        {
            KeyId = ByteString.CopyFrom(keyId),
            Nonce = ByteString.CopyFrom(nonce),
            Ciphertext = UnsafeByteOperations.UnsafeWrap(ciphertext),
        };
    }

    /// <summary>Opens a swarm message sealed with <paramref name="swarmKey"/>.</summary>
    /// <exception cref="NeuralSealException">Another key, a modified seal or header, or a body of another type.</exception>
    public static IMessage OpenForSwarm(NeuralMessage message, ReadOnlySpan<byte> swarmKey, string swarm)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.BodyCase != NeuralMessage.BodyOneofCase.Sealed) throw new NeuralSealException("the message is not sealed");
        var sealedBody = message.Sealed;
        byte[] keyId = KeyId(swarmKey);
        if (!sealedBody.KeyId.Span.SequenceEqual(keyId)) throw new NeuralSealException("sealed with another swarm key");
        if (!sealedBody.Encapsulation.IsEmpty || sealedBody.Nonce.Length != NonceLength) throw new NeuralSealException("not a swarm seal");
        if (sealedBody.Ciphertext.Length < TagLength) throw new NeuralSealException("the ciphertext is shorter than its tag");
        var plaintext = new byte[sealedBody.Ciphertext.Length - TagLength];
        Span<byte> key = stackalloc byte[32];
        DeriveSwarmKey(swarmKey, swarm, key);
        try
        {
            using var aead = new ChaCha20Poly1305(key);
            var c = sealedBody.Ciphertext.Span;
            aead.Decrypt(sealedBody.Nonce.Span, c[..^TagLength], c[^TagLength..], plaintext, AssociatedData(message, keyId));
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new NeuralSealException("the swarm seal does not open: modified, or moved from another message");
        }
        finally
        {
            key.Clear();
        }
        return InnerBody(message, plaintext);
    }

    private static void DeriveSwarmKey(ReadOnlySpan<byte> swarmKey, string swarm, Span<byte> key)
    {
        byte[] info = [.. SwarmLabel, .. System.Text.Encoding.UTF8.GetBytes(swarm)];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, swarmKey, key, [], info);
    }

    private static IMessage InnerBody(NeuralMessage message, byte[] plaintext)
    {
        NeuralMessage inner;
        try
        {
            inner = NeuralMessage.Parser.ParseFrom(plaintext);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new NeuralSealException($"the sealed body does not decode: {e.Message}");
        }
        var info = NeuralMessageTypes.Of(message.Type);
        if (inner.BodyCase != info.BodyCase || NeuralMessageTypes.GetBody(inner) is not { } body)
            throw new NeuralSealException($"a {info.Name} message holds a sealed {inner.BodyCase} body");
        return body;
    }

    private static void Encrypt(ReadOnlySpan<byte> shared, ReadOnlySpan<byte> encapsulation, ReadOnlySpan<byte> keyId,
        NeuralMessage header, ReadOnlySpan<byte> plaintext, Span<byte> output)
    {
        Span<byte> key = stackalloc byte[32];
        DeriveKey(shared, encapsulation, keyId, key);
        using var aead = new ChaCha20Poly1305(key);
        key.Clear();
        Span<byte> nonce = stackalloc byte[12]; // the key is used once: a fixed nonce is safe
        aead.Encrypt(nonce, plaintext, output[..plaintext.Length], output[plaintext.Length..], AssociatedData(header, keyId));
    }

    private static void Decrypt(ReadOnlySpan<byte> shared, ReadOnlySpan<byte> encapsulation, ReadOnlySpan<byte> keyId,
        NeuralMessage header, ReadOnlySpan<byte> ciphertext, Span<byte> plaintext)
    {
        Span<byte> key = stackalloc byte[32];
        DeriveKey(shared, encapsulation, keyId, key);
        using var aead = new ChaCha20Poly1305(key);
        key.Clear();
        Span<byte> nonce = stackalloc byte[12];
        aead.Decrypt(nonce, ciphertext[..^TagLength], ciphertext[^TagLength..], plaintext, AssociatedData(header, keyId));
    }

    /// <summary>key = HKDF-SHA256(ikm = shared secret, salt = encapsulation, info = label || key id).</summary>
    private static void DeriveKey(ReadOnlySpan<byte> shared, ReadOnlySpan<byte> encapsulation, ReadOnlySpan<byte> keyId, Span<byte> key)
    {
        byte[] info = [.. Label, .. keyId];
        HKDF.DeriveKey(HashAlgorithmName.SHA256, shared, key, encapsulation, info);
    }

    /// <summary>
    /// label || key id || len(source_peer) || source_peer || id || u32 type || u8 destination kind || len(target) ||
    /// target || u32 priority || u32 ttl_seconds || u32 hop_limit || u64 created_at_ms || len(correlation_id) ||
    /// correlation_id || len(source_agent) || source_agent; integers big-endian, lengths u16.
    /// </summary>
    internal static byte[] AssociatedData(NeuralMessage m, ReadOnlySpan<byte> keyId)
    {
        var buffer = new List<byte>(160);
        buffer.AddRange(Label);
        buffer.AddRange(keyId);
        AddBytes(buffer, m.SourcePeer.Span);
        buffer.AddRange(m.Id.Span);
        AddU32(buffer, (uint)m.Type);
        var destination = m.Destination ?? new Destination();
        buffer.Add((byte)destination.TargetCase);
        AddBytes(buffer, destination.TargetCase switch
        {
            Destination.TargetOneofCase.Agent => System.Text.Encoding.UTF8.GetBytes(destination.Agent),
            Destination.TargetOneofCase.Peer => destination.Peer.ToByteArray(),
            Destination.TargetOneofCase.Swarm => System.Text.Encoding.UTF8.GetBytes(destination.Swarm),
            _ => [],
        });
        AddU32(buffer, m.Priority);
        AddU32(buffer, m.TtlSeconds);
        AddU32(buffer, m.HopLimit);
        Span<byte> u64 = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64BigEndian(u64, m.CreatedAtMs);
        buffer.AddRange(u64);
        AddBytes(buffer, m.CorrelationId.Span);
        AddBytes(buffer, System.Text.Encoding.UTF8.GetBytes(m.SourceAgent));
        return [.. buffer];
    }

    private static void AddU32(List<byte> buffer, uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        buffer.AddRange(bytes);
    }

    private static void AddBytes(List<byte> buffer, ReadOnlySpan<byte> value)
    {
        if (value.Length > ushort.MaxValue) throw new NeuralSealException("a header field is too long to seal");
        Span<byte> length = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(length, (ushort)value.Length);
        buffer.AddRange(length);
        buffer.AddRange(value);
    }
}

/// <summary>A sealed body could not be opened (or a seal could not be made).</summary>
public sealed class NeuralSealException(string message) : P2PFormatException(message);
