using System.Security.Cryptography;

namespace P2PStack.Crypto.MLKem;

/// <summary>
/// X-Wing hybrid KEM (draft-connolly-cfrg-xwing-kem): ML-KEM-768 + X25519, combined with SHA3-256.
/// The private key is a 32-byte seed, expanded with SHAKE256 to the ML-KEM seed (d, z) and the X25519 scalar.
/// </summary>
public sealed class XWingKem : IDisposable
{
    public const int SeedSize = 32;
    public const int PublicKeySize = 1216;
    public const int CiphertextSize = 1120;
    public const int SharedSecretSize = 32;
    public const int EncapsulationSeedSize = 64;

    private const int MLKemPublicKeySize = 1184;
    private const int MLKemCiphertextSize = 1088;
    private const int X25519Size = 32;

    // XWingLabel = "\.//^\" (0x5c2e2f2f5e5c), bound into every shared secret.
    private static ReadOnlySpan<byte> Label => [0x5c, 0x2e, 0x2f, 0x2f, 0x5e, 0x5c];

    private readonly ManagedMLKem _mlkem;
    private readonly byte[] _publicKey;
    private readonly byte[]? _seed;
    private readonly X25519Key? _x25519;   // held for the key's lifetime (an onion key serves many hops)
    private bool _disposed;

    private XWingKem(ManagedMLKem mlkem, byte[] publicKey, byte[]? seed, X25519Key? x25519)
    {
        _mlkem = mlkem;
        _publicKey = publicKey;
        _seed = seed;
        _x25519 = x25519;
    }

    /// <summary>True when this instance can decapsulate.</summary>
    public bool HasPrivateKey => _seed is not null;

    /// <summary>Generates a key pair from a fresh random 32-byte seed.</summary>
    public static XWingKem GenerateKey()
    {
        Span<byte> seed = stackalloc byte[SeedSize];
        RandomNumberGenerator.Fill(seed);
        try
        {
            return FromSeed(seed);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
        }
    }

    /// <summary>Derives the key pair from its 32-byte private seed (the X-Wing decapsulation key).</summary>
    public static XWingKem FromSeed(ReadOnlySpan<byte> seed)
    {
        if (seed.Length != SeedSize)
            throw new ArgumentException($"An X-Wing private key (seed) must be {SeedSize} bytes, got {seed.Length}.", nameof(seed));
        var expanded = new byte[96];
        Hashing.Shake256(seed, default, default, expanded);
        ManagedMLKem mlkem = ManagedMLKem.ImportPrivateSeed(MLKemAlgorithm.MLKem768, expanded.AsSpan(0, 64));
        X25519Key x25519 = X25519Key.Import(expanded.AsSpan(64, 32));
        CryptographicOperations.ZeroMemory(expanded);

        var publicKey = new byte[PublicKeySize];
        mlkem.ExportEncapsulationKey(publicKey.AsSpan(0, MLKemPublicKeySize));
        x25519.PublicKey.CopyTo(publicKey.AsSpan(MLKemPublicKeySize));
        return new XWingKem(mlkem, publicKey, seed.ToArray(), x25519);
    }

    /// <summary>Imports a 1216-byte public key (ML-KEM-768 encapsulation key || X25519 public key).</summary>
    public static XWingKem FromPublicKey(ReadOnlySpan<byte> publicKey)
    {
        if (publicKey.Length != PublicKeySize)
            throw new ArgumentException($"An X-Wing public key must be {PublicKeySize} bytes, got {publicKey.Length}.", nameof(publicKey));
        ManagedMLKem mlkem = ManagedMLKem.ImportEncapsulationKey(MLKemAlgorithm.MLKem768, publicKey[..MLKemPublicKeySize]);
        return new XWingKem(mlkem, publicKey.ToArray(), null, null);
    }

    public byte[] ExportPublicKey()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return (byte[])_publicKey.Clone();
    }

    /// <summary>The 32-byte private seed.</summary>
    public byte[] ExportPrivateSeed()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_seed is null) throw new CryptographicException("This X-Wing key holds only a public key.");
        return (byte[])_seed.Clone();
    }

    /// <summary>Encapsulates to this public key with fresh randomness.</summary>
    public void Encapsulate(Span<byte> ciphertext, Span<byte> sharedSecret)
    {
        Span<byte> eseed = stackalloc byte[EncapsulationSeedSize];
        RandomNumberGenerator.Fill(eseed);
        try
        {
            Encapsulate(eseed, ciphertext, sharedSecret);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(eseed);
        }
    }

    /// <summary>
    /// Deterministic encapsulation from a 64-byte eseed (ML-KEM message || X25519 ephemeral scalar), as in
    /// the draft's EncapsulateDerand; for known-answer tests.
    /// </summary>
    public void Encapsulate(ReadOnlySpan<byte> eseed, Span<byte> ciphertext, Span<byte> sharedSecret)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (eseed.Length != EncapsulationSeedSize)
            throw new ArgumentException($"The X-Wing eseed must be {EncapsulationSeedSize} bytes.", nameof(eseed));
        CheckLength(ciphertext.Length, CiphertextSize, nameof(ciphertext));
        CheckLength(sharedSecret.Length, SharedSecretSize, nameof(sharedSecret));

        Span<byte> ssM = stackalloc byte[32];
        _mlkem.Encapsulate(eseed[..32], ciphertext[..MLKemCiphertextSize], ssM);

        // X-Wing does not check for an all-zero X25519 result (the ML-KEM secret still binds the combiner).
        Span<byte> ctX = ciphertext[MLKemCiphertextSize..];
        Span<byte> ssX = stackalloc byte[X25519Size];
        ReadOnlySpan<byte> pkX = _publicKey.AsSpan(MLKemPublicKeySize);
        X25519Key.ScalarMultBaseAndAgree(eseed[32..], pkX, ctX, ssX);
        Combine(ssM, ssX, ctX, pkX, sharedSecret);

        CryptographicOperations.ZeroMemory(ssM);
        CryptographicOperations.ZeroMemory(ssX);
    }

    /// <summary>
    /// Encapsulates with fresh randomness for ML-KEM and an X25519 ephemeral key generated ahead of time (its base-point
    /// multiplication done off the caller's critical path): <c>ct_X</c> is its public key, <c>ss_X</c> its agreement with
    /// this public key. The same distribution as <see cref="Encapsulate(Span{byte}, Span{byte})"/> as long as the
    /// ephemeral is used for this one encapsulation only; the caller disposes it afterwards.
    /// </summary>
    public void Encapsulate(X25519Key ephemeral, Span<byte> ciphertext, Span<byte> sharedSecret)
    {
        Span<byte> message = stackalloc byte[32];
        RandomNumberGenerator.Fill(message);
        try
        {
            Encapsulate(message, ephemeral, ciphertext, sharedSecret);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(message);
        }
    }

    /// <summary>
    /// Deterministic form of <see cref="Encapsulate(X25519Key, Span{byte}, Span{byte})"/> with the caller's 32-byte ML-KEM
    /// message: the result equals <see cref="Encapsulate(ReadOnlySpan{byte}, Span{byte}, Span{byte})"/> for the eseed
    /// <c>message || ephemeral's scalar</c>. For known-answer tests.
    /// </summary>
    public void Encapsulate(ReadOnlySpan<byte> message, X25519Key ephemeral, Span<byte> ciphertext, Span<byte> sharedSecret)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(ephemeral);
        if (message.Length != 32) throw new ArgumentException("The ML-KEM message must be 32 bytes.", nameof(message));
        CheckLength(ciphertext.Length, CiphertextSize, nameof(ciphertext));
        CheckLength(sharedSecret.Length, SharedSecretSize, nameof(sharedSecret));

        Span<byte> ssM = stackalloc byte[32];
        _mlkem.Encapsulate(message, ciphertext[..MLKemCiphertextSize], ssM);
        Span<byte> ctX = ciphertext[MLKemCiphertextSize..];
        ephemeral.PublicKey.CopyTo(ctX);
        Span<byte> ssX = stackalloc byte[X25519Size];
        ReadOnlySpan<byte> pkX = _publicKey.AsSpan(MLKemPublicKeySize);
        ephemeral.Agree(pkX, ssX);   // no all-zero check in X-Wing, as above
        Combine(ssM, ssX, ctX, pkX, sharedSecret);

        CryptographicOperations.ZeroMemory(ssM);
        CryptographicOperations.ZeroMemory(ssX);
    }

    /// <summary>Decapsulates a 1120-byte ciphertext (ML-KEM-768 ciphertext || X25519 ephemeral public key).</summary>
    public void Decapsulate(ReadOnlySpan<byte> ciphertext, Span<byte> sharedSecret)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_x25519 is null) throw new CryptographicException("This X-Wing key holds only a public key and cannot decapsulate.");
        CheckLength(ciphertext.Length, CiphertextSize, nameof(ciphertext));
        CheckLength(sharedSecret.Length, SharedSecretSize, nameof(sharedSecret));

        Span<byte> ssM = stackalloc byte[32];
        _mlkem.Decapsulate(ciphertext[..MLKemCiphertextSize], ssM);
        ReadOnlySpan<byte> ctX = ciphertext[MLKemCiphertextSize..];
        Span<byte> ssX = stackalloc byte[X25519Size];
        _x25519.Agree(ctX, ssX);   // no all-zero check in X-Wing: the result is used as it is
        Combine(ssM, ssX, ctX, _publicKey.AsSpan(MLKemPublicKeySize), sharedSecret);
        CryptographicOperations.ZeroMemory(ssM);
        CryptographicOperations.ZeroMemory(ssX);
    }

    public byte[] Decapsulate(ReadOnlySpan<byte> ciphertext)
    {
        var secret = new byte[SharedSecretSize];
        Decapsulate(ciphertext, secret);
        return secret;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_seed is not null) CryptographicOperations.ZeroMemory(_seed);
        _x25519?.Dispose();
        _mlkem.Dispose();
    }

    // ss = SHA3-256(ss_M || ss_X || ct_X || pk_X || XWingLabel)
    private static void Combine(ReadOnlySpan<byte> ssM, ReadOnlySpan<byte> ssX, ReadOnlySpan<byte> ctX,
        ReadOnlySpan<byte> pkX, Span<byte> sharedSecret)
    {
        Span<byte> input = stackalloc byte[32 * 4 + 6];
        ssM.CopyTo(input);
        ssX.CopyTo(input[32..]);
        ctX.CopyTo(input[64..]);
        pkX.CopyTo(input[96..]);
        Label.CopyTo(input[128..]);
        Hashing.H(input, sharedSecret);
        CryptographicOperations.ZeroMemory(input);
    }

    private static void CheckLength(int actual, int expected, string name)
    {
        if (actual != expected) throw new ArgumentException($"Must be exactly {expected} bytes, got {actual}.", name);
    }
}
