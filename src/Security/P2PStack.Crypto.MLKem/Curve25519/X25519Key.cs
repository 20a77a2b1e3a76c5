using System.Security.Cryptography;
using BcX25519 = Org.BouncyCastle.Math.EC.Rfc7748.X25519;

namespace P2PStack.Crypto.MLKem;

/// <summary>Which code computes X25519.</summary>
public enum X25519Implementation
{
    /// <summary>BouncyCastle's managed code: where libcrypto cannot be loaded, or when chosen.</summary>
    BouncyCastle,

    /// <summary>OpenSSL's libcrypto through P/Invoke (about three times faster per agreement).</summary>
    OpenSsl,
}

/// <summary>
/// An X25519 private key (RFC 7748) with its public key, held for its lifetime by the implementation that computes
/// with it: with OpenSSL, an EVP_PKEY handle (generated inside OpenSSL, or imported once) and a reusable derive
/// context, so that an agreement costs one peer-key import and one scalar multiplication and no managed allocation.
/// Every X25519 use of the stack goes through here (Noise's static and ephemeral keys, X-Wing in hybrid Noise, onion
/// hops and sealed messages). Safe for concurrent agreements (a Noise static key serves many handshakes at once), and
/// for a Dispose during them: each running agreement completes with the right result, later ones throw
/// <see cref="ObjectDisposedException"/>, and the key is freed when the last running one ends.
/// </summary>
public sealed class X25519Key : IDisposable
{
    public const int KeySize = 32;

    /// <summary>Environment variable forcing the implementation: <c>bouncycastle</c> or <c>openssl</c> (for A/B runs).</summary>
    public const string ImplementationVariable = "P2PSTACK_X25519";

    private readonly byte[] _publicKey;
    private readonly byte[]? _privateKey;          // BouncyCastle
    private readonly SafeEvpPkeyHandle? _pkey;     // OpenSSL
    private SafeEvpPkeyCtxHandle? _idleContext;    // OpenSSL: one derive context kept for reuse
    private int _managedAgreements;                // BouncyCastle: agreements running; the last after Dispose erases the key
    private volatile bool _disposed;

    private X25519Key(byte[] privateKey)
    {
        _privateKey = privateKey;
        _publicKey = new byte[KeySize];
        BcX25519.ScalarMultBase(privateKey, 0, _publicKey, 0);
        Implementation = X25519Implementation.BouncyCastle;
    }

    private X25519Key(SafeEvpPkeyHandle pkey, byte[] publicKey)
    {
        _pkey = pkey;
        _publicKey = publicKey;
        Implementation = X25519Implementation.OpenSsl;
    }

    /// <summary>
    /// The implementation new keys use: OpenSSL when libcrypto loads and passes its self-test, unless
    /// <see cref="ImplementationVariable"/> says <c>bouncycastle</c>.
    /// </summary>
    public static X25519Implementation Default { get; } = ChooseDefault();

    /// <summary>Whether OpenSSL's X25519 can be used on this machine.</summary>
    public static bool OpenSslAvailable => OpenSslX25519.Available;

    public X25519Implementation Implementation { get; }

    public ReadOnlySpan<byte> PublicKey => _publicKey;

    /// <summary>A new random key.</summary>
    public static X25519Key Generate() => Generate(Default);

    internal static X25519Key Generate(X25519Implementation implementation)
    {
        if (implementation == X25519Implementation.OpenSsl)
        {
            EnsureOpenSsl();
            var publicKey = new byte[KeySize];
            return new X25519Key(OpenSslX25519.Generate(publicKey), publicKey);
        }

        var privateKey = new byte[KeySize];
        RandomNumberGenerator.Fill(privateKey);
        return new X25519Key(privateKey);
    }

    /// <summary>The key with these 32 private bytes (clamped when used, as RFC 7748 says).</summary>
    public static X25519Key Import(ReadOnlySpan<byte> privateKey) => Import(privateKey, Default);

    internal static X25519Key Import(ReadOnlySpan<byte> privateKey, X25519Implementation implementation)
    {
        if (privateKey.Length != KeySize)
        {
            throw new ArgumentException($"an X25519 private key is {KeySize} bytes", nameof(privateKey));
        }

        if (implementation == X25519Implementation.OpenSsl)
        {
            EnsureOpenSsl();
            var publicKey = new byte[KeySize];
            return new X25519Key(OpenSslX25519.Import(privateKey, publicKey), publicKey);
        }

        return new X25519Key(privateKey.ToArray());
    }

    /// <summary>
    /// X25519(this key, <paramref name="peerPublicKey"/>) into <paramref name="sharedSecret"/> (32 bytes), for any
    /// 32-byte peer key (its top bit ignored, as RFC 7748 says). Returns false when the result is all zeros (a
    /// low-order peer key); the zeros are written then, as BouncyCastle's <c>ScalarMult</c> writes them, so a caller
    /// that must not check (X-Wing) gets the same bytes from either implementation.
    /// </summary>
    public bool Agree(ReadOnlySpan<byte> peerPublicKey, Span<byte> sharedSecret)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (peerPublicKey.Length != KeySize)
        {
            throw new ArgumentException($"an X25519 public key is {KeySize} bytes, not {peerPublicKey.Length}", nameof(peerPublicKey));
        }

        if (sharedSecret.Length != KeySize)
        {
            throw new ArgumentException($"the shared secret is {KeySize} bytes", nameof(sharedSecret));
        }

        if (_privateKey is not null)
        {
            // Dispose erases the key only when no agreement is running (the last one to end erases it then), and an
            // agreement that starts after Dispose refuses: no agreement computes with a half-erased key.
            Interlocked.Increment(ref _managedAgreements);
            try
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                return ManagedAgree(_privateKey, peerPublicKey, sharedSecret);
            }
            finally
            {
                if (Interlocked.Decrement(ref _managedAgreements) == 0 && _disposed)
                {
                    CryptographicOperations.ZeroMemory(_privateKey);
                }
            }
        }

        // OpenSSL: a running agreement holds its own derive context, which holds its own reference to the key inside
        // OpenSSL; a new context or a private-key export takes a reference on the key's handle first, which throws
        // ObjectDisposedException once Dispose released it. Dispose frees only the idle context.

        // One idle context is kept; a concurrent agreement on the same key makes (and frees) one of its own.
        var ctx = Interlocked.Exchange(ref _idleContext, null) ?? OpenSslX25519.NewDeriveContext(_pkey!);
        try
        {
            if (OpenSslX25519.TryDerive(ctx, peerPublicKey, sharedSecret))
            {
                return true;
            }
        }
        finally
        {
            if (Interlocked.CompareExchange(ref _idleContext, ctx, null) is not null)
            {
                ctx.Dispose();   // another context is kept already
            }
            else if (_disposed && Interlocked.CompareExchange(ref _idleContext, null, ctx) == ctx)
            {
                ctx.Dispose();   // put back after Dispose emptied the slot
            }
        }

        // OpenSSL refuses an all-zero result, which a (clamped) scalar gives exactly for a low-order peer key: answer
        // those without the private key, so that a remote sending one cannot make us take the key out of OpenSSL.
        if (IsLowOrder(peerPublicKey))
        {
            sharedSecret.Clear();
            return false;
        }

        // Anything else OpenSSL refused: BouncyCastle decides, so that the bytes and the answer are its own.
        Span<byte> privateKey = stackalloc byte[KeySize];
        try
        {
            Interlocked.Increment(ref s_privateKeyExports);
            OpenSslX25519.ExportPrivate(_pkey!, privateKey);
            return ManagedAgree(privateKey, peerPublicKey, sharedSecret);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(privateKey);
        }
    }

    // The u-coordinates of order dividing 8 (0, 1, the two of order 8, p - 1) and the non-canonical p and p + 1, little
    // endian, top bit clear: the list libsodium rejects as small order. A peer key is compared with its top bit masked
    // (RFC 7748). Public data, so the comparison need not be constant time.
    private static readonly byte[][] LowOrderKeys = BuildLowOrderKeys();

    private static long s_privateKeyExports;

    /// <summary>How often an agreement took a private key out of OpenSSL (only for a refusal that is not a low-order
    /// peer key; for tests).</summary>
    internal static long PrivateKeyExports => Interlocked.Read(ref s_privateKeyExports);

    private static byte[][] BuildLowOrderKeys()
    {
        var p = System.Numerics.BigInteger.Pow(2, 255) - 19;
        System.Numerics.BigInteger[] values =
        [
            0, 1,
            System.Numerics.BigInteger.Parse("325606250916557431795983626356110631294008115727848805560023387167927233504", System.Globalization.CultureInfo.InvariantCulture),
            System.Numerics.BigInteger.Parse("39382357235489614581723060781553021112529911719440698176882885853963445705823", System.Globalization.CultureInfo.InvariantCulture),
            p - 1, p, p + 1,
        ];
        return [.. values.Select(u =>
        {
            var bytes = new byte[KeySize];
            u.TryWriteBytes(bytes, out _, isUnsigned: true, isBigEndian: false);
            return bytes;
        })];
    }

    internal static bool IsLowOrder(ReadOnlySpan<byte> publicKey)
    {
        foreach (var key in LowOrderKeys)
        {
            if (publicKey[..(KeySize - 1)].SequenceEqual(key.AsSpan(0, KeySize - 1)) && (publicKey[KeySize - 1] & 0x7f) == key[KeySize - 1])
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// For a scalar used once (X-Wing's encapsulation): its public key into <paramref name="publicKey"/> and its
    /// agreement with <paramref name="peerPublicKey"/> into <paramref name="sharedSecret"/>, without keeping a key.
    /// Returns false (zeros written) when the agreement is all zeros, like <see cref="Agree"/>.
    /// </summary>
    public static bool ScalarMultBaseAndAgree(ReadOnlySpan<byte> scalar, ReadOnlySpan<byte> peerPublicKey,
        Span<byte> publicKey, Span<byte> sharedSecret) =>
        ScalarMultBaseAndAgree(scalar, peerPublicKey, publicKey, sharedSecret, Default);

    internal static bool ScalarMultBaseAndAgree(ReadOnlySpan<byte> scalar, ReadOnlySpan<byte> peerPublicKey,
        Span<byte> publicKey, Span<byte> sharedSecret, X25519Implementation implementation)
    {
        if (scalar.Length != KeySize || peerPublicKey.Length != KeySize || publicKey.Length != KeySize || sharedSecret.Length != KeySize)
        {
            throw new ArgumentException($"X25519 scalars, keys and secrets are {KeySize} bytes");
        }

        if (implementation == X25519Implementation.OpenSsl)
        {
            EnsureOpenSsl();
            if (OpenSslX25519.TryScalarMultBaseAndDerive(scalar, peerPublicKey, publicKey, sharedSecret))
            {
                return true;
            }

            return ManagedAgree(scalar, peerPublicKey, sharedSecret);
        }

        ManagedScalarMultBase(scalar, publicKey);
        return ManagedAgree(scalar, peerPublicKey, sharedSecret);
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        Interlocked.MemoryBarrier();   // the flag before the count: an agreement that counted itself later sees the flag
        if (_privateKey is not null && Volatile.Read(ref _managedAgreements) == 0)
        {
            CryptographicOperations.ZeroMemory(_privateKey);
        }

        Interlocked.Exchange(ref _idleContext, null)?.Dispose();
        _pkey?.Dispose();   // OpenSSL erases the key's bytes when it frees them
    }

    private static bool ManagedAgree(ReadOnlySpan<byte> privateKey, ReadOnlySpan<byte> peerPublicKey, Span<byte> sharedSecret) =>
        BcX25519.CalculateAgreement(privateKey, peerPublicKey, sharedSecret);

    private static void ManagedScalarMultBase(ReadOnlySpan<byte> scalar, Span<byte> publicKey) =>
        BcX25519.ScalarMultBase(scalar, publicKey);

    private static void EnsureOpenSsl()
    {
        if (!OpenSslX25519.Available)
        {
            throw new PlatformNotSupportedException("OpenSSL's X25519 is not available here (libcrypto.so.3 or .so.1.1 with X25519)");
        }
    }

    private static X25519Implementation ChooseDefault()
    {
        string? chosen = Environment.GetEnvironmentVariable(ImplementationVariable);
        if (string.Equals(chosen, "bouncycastle", StringComparison.OrdinalIgnoreCase))
        {
            return X25519Implementation.BouncyCastle;
        }

        return OpenSslX25519.Available ? X25519Implementation.OpenSsl : X25519Implementation.BouncyCastle;
    }
}
