using System.Security.Cryptography;
using P2PStack.Crypto.MLKem;

namespace P2PStack.Privacy.Onion.Crypto;

/// <summary>
/// HX1, the per-hop key agreement (docs/specs/onion.md, "Key agreement"): one round trip, ntor-shaped, with X-Wing
/// (ML-KEM-768 + X25519) in both of ntor's roles.
/// <code>
///   client:  (ct_O, ss_O) = XWing.Encaps(pk_O)            relay authentication: only the onion key's holder gets ss_O
///            (sk_E, pk_E) = XWing.KeyGen()                 ephemeral, for forward secrecy
///            CREATE  = 0x01 || kid(pk_O) || pk_E || ct_O
///   relay:   ss_O = XWing.Decaps(sk_O, ct_O);  (ct_E, ss_E) = XWing.Encaps(pk_E)
///            th   = SHA-256("synaptic-onion/hx1/transcript" || len16(id) || id || pk_O || pk_E || ct_O || ct_E)
///            prk  = HKDF-Extract(salt = th, ikm = ss_O || ss_E)
///            okm  = HKDF-Expand(prk, "synaptic-onion/hx1/keys", 192) = forward keys (80) || backward keys (80) || K_c (32)
///            auth = HMAC-SHA256(K_c, "synaptic-onion/hx1/relay-confirm" || th)
///            CREATED = 0x01 || ct_E || auth
///   client:  ss_E = XWing.Decaps(sk_E, ct_E); derives the same keys; checks auth in constant time; erases sk_E.
/// </code>
/// Breaking it needs both X25519 and ML-KEM-768 broken (X-Wing's combiner); recorded traffic stays secret after the
/// onion key leaks, because ss_E came from ephemeral keys both sides erased; the relay's identity and onion key are in
/// the transcript, so keys agreed with one relay never match another's.
/// </summary>
internal static class OnionHandshake
{
    public const byte TypeHx1 = 1;
    public const int KeyIdSize = 8;
    public const int AuthSize = 32;
    public const int CreateSize = 1 + KeyIdSize + XWingKem.PublicKeySize + XWingKem.CiphertextSize;
    public const int CreatedSize = 1 + XWingKem.CiphertextSize + AuthSize;
    public const int KeyMaterialSize = 2 * LayerCipher.KeyMaterialSize + 32;

    private static readonly byte[] TranscriptLabel = System.Text.Encoding.ASCII.GetBytes("synaptic-onion/hx1/transcript");
    private static readonly byte[] KeysLabel = System.Text.Encoding.ASCII.GetBytes("synaptic-onion/hx1/keys");
    private static readonly byte[] ConfirmLabel = System.Text.Encoding.ASCII.GetBytes("synaptic-onion/hx1/relay-confirm");
    private static readonly byte[] KeyIdLabel = System.Text.Encoding.ASCII.GetBytes("synaptic-onion/key-id");

    /// <summary>The 8-byte id of an onion public key: SHA-256("synaptic-onion/key-id" || pk)[0..8].</summary>
    public static byte[] KeyId(ReadOnlySpan<byte> onionPublicKey)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(KeyIdLabel);
        hash.AppendData(onionPublicKey);
        return hash.GetHashAndReset().AsSpan(0, KeyIdSize).ToArray();
    }

    /// <summary>The relay's side: answers a CREATE with CREATED and the hop's keys.</summary>
    /// <exception cref="OnionHandshakeException">Malformed CREATE, or an onion key the relay does not hold.</exception>
    public static byte[] Respond(ReadOnlySpan<byte> create, OnionKeyRing keys, ReadOnlySpan<byte> relayId, out HopKeys hopKeys) =>
        Respond(create, keys, relayId, X25519Key.Generate(), out hopKeys);

    /// <summary>As <see cref="Respond(ReadOnlySpan{byte}, OnionKeyRing, ReadOnlySpan{byte}, out HopKeys)"/>, with the
    /// X25519 ephemeral of the encapsulation to the client's key generated ahead (<see cref="PreparedKeys{T}"/>); it is
    /// used once and disposed here whatever the outcome.</summary>
    public static byte[] Respond(ReadOnlySpan<byte> create, OnionKeyRing keys, ReadOnlySpan<byte> relayId, X25519Key encapsulation,
        out HopKeys hopKeys)
    {
        using var ephemeralScalar = encapsulation;
        if (create.Length != CreateSize) throw new OnionHandshakeException($"CREATE is {create.Length} bytes, expected {CreateSize}");
        if (create[0] != TypeHx1) throw new OnionHandshakeException($"unknown handshake type {create[0]}");
        var keyId = create.Slice(1, KeyIdSize);
        var ephemeralPublic = create.Slice(1 + KeyIdSize, XWingKem.PublicKeySize);
        var onionCiphertext = create.Slice(1 + KeyIdSize + XWingKem.PublicKeySize, XWingKem.CiphertextSize);
        var onionKey = keys.Find(keyId) ?? throw new OnionHandshakeException("CREATE names an onion key this relay does not hold");

        Span<byte> secrets = stackalloc byte[64];
        var created = new byte[CreatedSize];
        created[0] = TypeHx1;
        var ephemeralCiphertext = created.AsSpan(1, XWingKem.CiphertextSize);
        try
        {
            try
            {
                onionKey.Kem.Decapsulate(onionCiphertext, secrets[..32]);
                using var ephemeral = XWingKem.FromPublicKey(ephemeralPublic);
                ephemeral.Encapsulate(ephemeralScalar, ephemeralCiphertext, secrets[32..]);
            }
            catch (Exception e) when (e is ArgumentException or CryptographicException or ObjectDisposedException)
            {
                throw new OnionHandshakeException($"CREATE does not decapsulate: {e.Message}");
            }
            var transcript = Transcript(relayId, onionKey.PublicKey, ephemeralPublic, onionCiphertext, ephemeralCiphertext);
            hopKeys = Derive(transcript, secrets, created.AsSpan(1 + XWingKem.CiphertextSize, AuthSize));
            return created;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secrets);
        }
    }

    /// <summary>The client's state between CREATE and CREATED for one hop.</summary>
    public sealed class Client : IDisposable
    {
        private readonly XWingKem _ephemeral;
        private readonly byte[] _onionSecret = new byte[32];
        private readonly byte[] _relayId;
        private readonly byte[] _onionPublicKey;
        private int _completed;
        private int _erased;

        /// <summary>Prepares CREATE for a relay from its identity and onion public key (from its verified
        /// descriptor).</summary>
        public Client(ReadOnlySpan<byte> relayId, ReadOnlySpan<byte> onionPublicKey)
            : this(relayId, new OnionPublicKey(onionPublicKey.ToArray()), ClientEphemeral.Generate())
        {
        }

        /// <summary>Prepares CREATE with the relay's onion key imported once (<see cref="OnionPublicKey.For"/>) and
        /// ephemeral keys generated ahead (<see cref="PreparedKeys{T}"/>), which this handshake now owns: the X-Wing
        /// key pair until <see cref="Complete"/> or <see cref="Dispose"/>, the encapsulation's X25519 key until the
        /// end of this constructor.</summary>
        public Client(ReadOnlySpan<byte> relayId, OnionPublicKey onion, ClientEphemeral ephemeral)
        {
            _relayId = relayId.ToArray();
            _onionPublicKey = onion.Bytes;
            _ephemeral = ephemeral.TakeKem();
            using var encapsulation = ephemeral.TakeEncapsulation();
            ephemeral.Dispose();
            Create = new byte[CreateSize];
            Create[0] = TypeHx1;
            onion.KeyId.CopyTo(Create.AsSpan(1));
            _ephemeral.ExportPublicKey().CopyTo(Create.AsSpan(1 + KeyIdSize));
            onion.Kem.Encapsulate(encapsulation, Create.AsSpan(1 + KeyIdSize + XWingKem.PublicKeySize, XWingKem.CiphertextSize), _onionSecret);
        }

        public byte[] Create { get; }

        /// <summary>Checks CREATED and derives the hop's keys; the ephemeral key is erased whatever the outcome.</summary>
        /// <exception cref="OnionHandshakeException">Malformed CREATED, or a confirmation that does not match (not the
        /// relay holding that onion key, or a changed message).</exception>
        public HopKeys Complete(ReadOnlySpan<byte> created)
        {
            if (Interlocked.Exchange(ref _completed, 1) != 0) throw new InvalidOperationException("the handshake was already completed");
            Span<byte> secrets = stackalloc byte[64];
            Span<byte> auth = stackalloc byte[AuthSize];
            try
            {
                if (created.Length != CreatedSize) throw new OnionHandshakeException($"CREATED is {created.Length} bytes, expected {CreatedSize}");
                if (created[0] != TypeHx1) throw new OnionHandshakeException($"unknown handshake type {created[0]} in CREATED");
                var ephemeralCiphertext = created.Slice(1, XWingKem.CiphertextSize);
                _onionSecret.CopyTo(secrets);
                try
                {
                    _ephemeral.Decapsulate(ephemeralCiphertext, secrets[32..]);
                }
                catch (Exception e) when (e is ArgumentException or CryptographicException)
                {
                    throw new OnionHandshakeException($"CREATED does not decapsulate: {e.Message}");
                }
                var transcript = Transcript(_relayId, _onionPublicKey, Create.AsSpan(1 + KeyIdSize, XWingKem.PublicKeySize),
                    Create.AsSpan(1 + KeyIdSize + XWingKem.PublicKeySize), ephemeralCiphertext);
                var keys = Derive(transcript, secrets, auth);
                if (!CryptographicOperations.FixedTimeEquals(auth, created.Slice(1 + XWingKem.CiphertextSize, AuthSize)))
                {
                    keys.Dispose();
                    throw new OnionHandshakeException("the relay's key confirmation does not match");
                }
                return keys;
            }
            finally
            {
                CryptographicOperations.ZeroMemory(secrets);
                Dispose();
            }
        }

        /// <summary>Whether the secrets were erased (tests).</summary>
        internal bool Erased => Volatile.Read(ref _erased) != 0;

        public void Dispose()
        {
            CryptographicOperations.ZeroMemory(_onionSecret);
            _ephemeral.Dispose();
            Volatile.Write(ref _erased, 1);
        }
    }

    /// <summary>The client's ephemeral keys for one hop: the X-Wing key pair (<c>sk_E, pk_E</c>) and the X25519 scalar of
    /// the encapsulation to the onion key. Generated ahead off the build's path; used for one hop, then erased.</summary>
    public sealed class ClientEphemeral : IDisposable
    {
        private XWingKem? _kem;
        private X25519Key? _encapsulation;

        private ClientEphemeral(XWingKem kem, X25519Key encapsulation)
        {
            _kem = kem;
            _encapsulation = encapsulation;
        }

        public static ClientEphemeral Generate() => new(XWingKem.GenerateKey(), X25519Key.Generate());

        internal XWingKem TakeKem() => Interlocked.Exchange(ref _kem, null) ?? throw new InvalidOperationException("the ephemeral key pair was taken");

        internal X25519Key TakeEncapsulation() =>
            Interlocked.Exchange(ref _encapsulation, null) ?? throw new InvalidOperationException("the encapsulation key was taken");

        public void Dispose()
        {
            Interlocked.Exchange(ref _kem, null)?.Dispose();
            Interlocked.Exchange(ref _encapsulation, null)?.Dispose();
        }
    }

    private static byte[] Transcript(ReadOnlySpan<byte> relayId, ReadOnlySpan<byte> onionPublicKey, ReadOnlySpan<byte> ephemeralPublic,
        ReadOnlySpan<byte> onionCiphertext, ReadOnlySpan<byte> ephemeralCiphertext)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(TranscriptLabel);
        Span<byte> length = [(byte)(relayId.Length >> 8), (byte)relayId.Length];
        hash.AppendData(length);
        hash.AppendData(relayId);
        hash.AppendData(onionPublicKey);
        hash.AppendData(ephemeralPublic);
        hash.AppendData(onionCiphertext);
        hash.AppendData(ephemeralCiphertext);
        return hash.GetHashAndReset();
    }

    private static HopKeys Derive(byte[] transcript, ReadOnlySpan<byte> secrets, Span<byte> auth)
    {
        Span<byte> prk = stackalloc byte[32];
        var material = new byte[KeyMaterialSize];
        try
        {
            HKDF.Extract(HashAlgorithmName.SHA256, secrets, transcript, prk);
            HKDF.Expand(HashAlgorithmName.SHA256, prk, material, KeysLabel);
            var confirmKey = material.AsSpan(2 * LayerCipher.KeyMaterialSize, 32);
            Span<byte> message = stackalloc byte[ConfirmLabel.Length + transcript.Length];
            ConfirmLabel.CopyTo(message);
            transcript.CopyTo(message[ConfirmLabel.Length..]);
            HMACSHA256.HashData(confirmKey, message, auth);
            CryptographicOperations.ZeroMemory(confirmKey);
            return new HopKeys(material);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(prk);
        }
    }
}

/// <summary>A relay's onion public key as the client uses it: imported once (the ML-KEM matrix expanded, the key checked)
/// with its key id, and kept for as long as the descriptor's key array lives (keyed by that array: a new descriptor
/// brings a new array). Holds no secret.</summary>
internal sealed class OnionPublicKey
{
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<byte[], OnionPublicKey> Imported = [];

    public OnionPublicKey(byte[] bytes)
    {
        Bytes = bytes;
        Kem = XWingKem.FromPublicKey(bytes);
        KeyId = OnionHandshake.KeyId(bytes);
    }

    /// <summary>The imported key for <paramref name="onionKey"/> (a descriptor's key array, not changed after), from the
    /// cache or imported now.</summary>
    public static OnionPublicKey For(byte[] onionKey) => Imported.GetValue(onionKey, static key => new OnionPublicKey(key));

    public byte[] Bytes { get; }

    public XWingKem Kem { get; }

    public byte[] KeyId { get; }
}

/// <summary>The key material one hop shares with the client: the forward and backward layer keys. Turned into layers
/// once and erased.</summary>
internal sealed class HopKeys : IDisposable
{
    private readonly byte[] _material;

    public HopKeys(byte[] material) => _material = material;

    /// <summary>The forward (client to exit) and backward layers; a relay encrypts, a client decrypts.</summary>
    public (LayerCipher Forward, LayerCipher Backward) CreateLayers(bool client)
    {
        var forward = new LayerCipher(_material.AsSpan(0, LayerCipher.KeyMaterialSize), decrypting: client);
        var backward = new LayerCipher(_material.AsSpan(LayerCipher.KeyMaterialSize, LayerCipher.KeyMaterialSize), decrypting: client);
        Dispose();
        return (forward, backward);
    }

    /// <summary>The raw material (tests compare both sides).</summary>
    internal ReadOnlySpan<byte> Material => _material;

    public void Dispose() => CryptographicOperations.ZeroMemory(_material);
}
