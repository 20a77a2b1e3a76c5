using System.Security.Cryptography;

namespace P2PStack.Security.Noise.Protocol;

/// <summary>
/// Noise HandshakeState (spec rev 34, section 5.3) for patterns without pre-messages, with the HFS tokens
/// e1 / ekem1. Write and read messages in the pattern's order, then <see cref="Split"/> into transport ciphers.
/// </summary>
public sealed class HandshakeState : IDisposable
{
    /// <summary>The largest Noise message (spec section 3).</summary>
    public const int MaxMessageLength = 65535;

    private const int DhLength = X25519KeyPair.KeySize;

    private readonly NoiseProtocol _protocol;
    private readonly SymmetricState _symmetric;
    private readonly X25519KeyPair _localStatic;
    private X25519KeyPair? _localEphemeral;
    private INoiseKemKeyPair? _localKemKey;
    private byte[]? _remoteStatic;
    private byte[]? _remoteEphemeral;
    private byte[]? _remoteKemKey;
    private int _messageIndex;

    /// <param name="localStatic">The local static key; not owned (the caller may reuse it across handshakes).</param>
    /// <param name="localEphemeral">A fixed ephemeral key for test vectors; owned. Generated when null.</param>
    /// <param name="localKemKey">A fixed ephemeral KEM key for test vectors; owned. Generated when null.</param>
    public HandshakeState(NoiseProtocol protocol, bool initiator, ReadOnlySpan<byte> prologue,
        X25519KeyPair localStatic, X25519KeyPair? localEphemeral = null, INoiseKemKeyPair? localKemKey = null)
    {
        _protocol = protocol;
        IsInitiator = initiator;
        _localStatic = localStatic;
        _localEphemeral = localEphemeral;
        _localKemKey = localKemKey;
        _symmetric = new SymmetricState(protocol.Name);
        _symmetric.MixHash(prologue);
    }

    public bool IsInitiator { get; }

    public NoiseProtocol Protocol => _protocol;

    /// <summary>All message patterns were processed; call <see cref="Split"/>.</summary>
    public bool IsCompleted => _messageIndex == _protocol.Pattern.Messages.Count;

    /// <summary>Whether the next message is one this side writes.</summary>
    public bool IsMyTurnToWrite => !IsCompleted && (_messageIndex % 2 == 0) == IsInitiator;

    /// <summary>Index of the next message in the pattern.</summary>
    public int MessageIndex => _messageIndex;

    /// <summary>The remote static key once its s token was read; empty before.</summary>
    public ReadOnlySpan<byte> RemoteStaticPublicKey => _remoteStatic;

    public ReadOnlySpan<byte> LocalStaticPublicKey => _localStatic.PublicKey;

    /// <summary>The handshake hash h (after completion: the channel binding).</summary>
    public ReadOnlySpan<byte> HandshakeHash => _symmetric.HandshakeHash;

    /// <summary>Length of the next message this side writes with a payload of <paramref name="payloadLength"/>.</summary>
    public int GetNextMessageLength(int payloadLength)
    {
        EnsureTurn(write: true);
        bool hasKey = _symmetric.HasKey;
        int length = 0;
        foreach (var token in _protocol.Pattern.Messages[_messageIndex])
        {
            switch (token)
            {
                case NoiseToken.E:
                    length += DhLength;
                    break;
                case NoiseToken.S:
                    length += DhLength + (hasKey ? CipherState.TagSize : 0);
                    break;
                case NoiseToken.E1:
                    length += Kem.PublicKeyLength + (hasKey ? CipherState.TagSize : 0);
                    break;
                case NoiseToken.Ekem1:
                    length += Kem.CiphertextLength + (hasKey ? CipherState.TagSize : 0);
                    hasKey = true;
                    break;
                default:
                    hasKey = true;
                    break;
            }
        }

        return length + payloadLength + (hasKey ? CipherState.TagSize : 0);
    }

    /// <summary>Writes the next handshake message carrying <paramref name="payload"/>.</summary>
    /// <returns>Bytes written to <paramref name="message"/>.</returns>
    public int WriteMessage(ReadOnlySpan<byte> payload, Span<byte> message)
    {
        int total = GetNextMessageLength(payload.Length);
        if (total > MaxMessageLength)
        {
            throw new ArgumentException($"handshake message of {total} bytes exceeds {MaxMessageLength}", nameof(payload));
        }

        if (message.Length < total)
        {
            throw new ArgumentException($"message buffer of {message.Length} bytes, {total} needed", nameof(message));
        }

        int offset = 0;
        Span<byte> secret = stackalloc byte[DhLength];
        foreach (var token in _protocol.Pattern.Messages[_messageIndex])
        {
            switch (token)
            {
                case NoiseToken.E:
                    _localEphemeral ??= X25519KeyPair.Generate();
                    _localEphemeral.PublicKey.CopyTo(message[offset..]);
                    _symmetric.MixHash(_localEphemeral.PublicKey);
                    offset += DhLength;
                    break;
                case NoiseToken.S:
                    offset += _symmetric.EncryptAndHash(_localStatic.PublicKey, message[offset..]);
                    break;
                case NoiseToken.E1:
                    _localKemKey ??= Kem.GenerateKeyPair();
                    offset += _symmetric.EncryptAndHash(_localKemKey.PublicKey, message[offset..]);
                    break;
                case NoiseToken.Ekem1:
                    offset += WriteEkem1(message[offset..]);
                    break;
                default:
                    MixDh(token, secret);
                    break;
            }
        }

        offset += _symmetric.EncryptAndHash(payload, message[offset..]);
        _messageIndex++;
        return offset;
    }

    /// <summary>Reads the next handshake message and decrypts its payload into <paramref name="payload"/>.</summary>
    /// <remarks><paramref name="payload"/> must not overlap <paramref name="message"/>.</remarks>
    /// <returns>Payload bytes written.</returns>
    /// <exception cref="NoiseException">The message is malformed or does not authenticate.</exception>
    public int ReadMessage(ReadOnlySpan<byte> message, Span<byte> payload)
    {
        EnsureTurn(write: false);
        if (message.Length > MaxMessageLength)
        {
            throw new NoiseException($"handshake message of {message.Length} bytes exceeds {MaxMessageLength}");
        }

        int offset = 0;
        Span<byte> secret = stackalloc byte[DhLength];
        foreach (var token in _protocol.Pattern.Messages[_messageIndex])
        {
            switch (token)
            {
                case NoiseToken.E:
                    _remoteEphemeral = Take(message, ref offset, DhLength, "ephemeral key").ToArray();
                    _symmetric.MixHash(_remoteEphemeral);
                    break;
                case NoiseToken.S:
                {
                    var sealedKey = Take(message, ref offset, DhLength + _symmetric.Overhead, "static key");
                    _remoteStatic = new byte[DhLength];
                    _symmetric.DecryptAndHash(sealedKey, _remoteStatic);
                    break;
                }
                case NoiseToken.E1:
                {
                    var sealedKey = Take(message, ref offset, Kem.PublicKeyLength + _symmetric.Overhead, "KEM public key");
                    _remoteKemKey = new byte[Kem.PublicKeyLength];
                    _symmetric.DecryptAndHash(sealedKey, _remoteKemKey);
                    break;
                }
                case NoiseToken.Ekem1:
                    ReadEkem1(Take(message, ref offset, Kem.CiphertextLength + _symmetric.Overhead, "KEM ciphertext"));
                    break;
                default:
                    MixDh(token, secret);
                    break;
            }
        }

        var sealedPayload = message[offset..];
        if (sealedPayload.Length < _symmetric.Overhead)
        {
            throw new NoiseException($"handshake message {_messageIndex + 1} is truncated: no room for the payload tag");
        }

        if (payload.Length < sealedPayload.Length - _symmetric.Overhead)
        {
            throw new ArgumentException("payload buffer too small", nameof(payload));
        }

        int written = _symmetric.DecryptAndHash(sealedPayload, payload);
        _messageIndex++;
        return written;
    }

    /// <summary>
    /// The transport ciphers, by this side's role: <c>Send</c> encrypts what this side writes. Call once, after
    /// the last message. The caller owns (and disposes) both.
    /// </summary>
    public (CipherState Send, CipherState Receive) Split()
    {
        if (!IsCompleted)
        {
            throw new InvalidOperationException("the handshake is not complete");
        }

        var (c1, c2) = _symmetric.Split();
        return IsInitiator ? (c1, c2) : (c2, c1);
    }

    private INoiseKem Kem => _protocol.Kem ?? throw new InvalidOperationException("pattern without KEM");

    private int WriteEkem1(Span<byte> destination)
    {
        var remoteKey = _remoteKemKey ?? throw new InvalidOperationException("ekem1 before the remote e1");
        byte[] ciphertext = new byte[Kem.CiphertextLength];
        Span<byte> sharedSecret = stackalloc byte[Kem.SharedSecretLength];
        try
        {
            Kem.Encapsulate(remoteKey, ciphertext, sharedSecret);
            int written = _symmetric.EncryptAndHash(ciphertext, destination);
            _symmetric.MixKey(sharedSecret);
            return written;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(sharedSecret);
        }
    }

    private void ReadEkem1(ReadOnlySpan<byte> sealedCiphertext)
    {
        var keyPair = _localKemKey ?? throw new InvalidOperationException("ekem1 read without a local e1");
        byte[] ciphertext = new byte[Kem.CiphertextLength];
        Span<byte> sharedSecret = stackalloc byte[Kem.SharedSecretLength];
        try
        {
            _symmetric.DecryptAndHash(sealedCiphertext, ciphertext);
            keyPair.Decapsulate(ciphertext, sharedSecret);
            _symmetric.MixKey(sharedSecret);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(sharedSecret);
        }
    }

    private void MixDh(NoiseToken token, Span<byte> secret)
    {
        // es: initiator's e with responder's s; se: initiator's s with responder's e.
        var (local, remote) = token switch
        {
            NoiseToken.EE => (_localEphemeral, _remoteEphemeral),
            NoiseToken.ES => IsInitiator ? (_localEphemeral, _remoteStatic) : (_localStatic, _remoteEphemeral),
            NoiseToken.SE => IsInitiator ? (_localStatic, _remoteEphemeral) : (_localEphemeral, _remoteStatic),
            NoiseToken.SS => (_localStatic, _remoteStatic),
            _ => throw new InvalidOperationException($"unexpected token {token}"),
        };

        if (local is null || remote is null)
        {
            throw new InvalidOperationException($"token {token} before both of its keys are known");
        }

        try
        {
            local.Agree(remote, secret);
            _symmetric.MixKey(secret);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secret);
        }
    }

    private ReadOnlySpan<byte> Take(ReadOnlySpan<byte> message, ref int offset, int length, string what)
    {
        if (message.Length - offset < length)
        {
            throw new NoiseException(
                $"handshake message {_messageIndex + 1} is truncated: {what} needs {length} bytes, {message.Length - offset} left");
        }

        var slice = message.Slice(offset, length);
        offset += length;
        return slice;
    }

    private void EnsureTurn(bool write)
    {
        if (IsCompleted)
        {
            throw new InvalidOperationException("the handshake is already complete");
        }

        if (IsMyTurnToWrite != write)
        {
            throw new InvalidOperationException(write ? "it is the remote's turn to write" : "it is this side's turn to write");
        }
    }

    public void Dispose()
    {
        _symmetric.Dispose();
        _localEphemeral?.Dispose();
        _localKemKey?.Dispose();
    }
}
