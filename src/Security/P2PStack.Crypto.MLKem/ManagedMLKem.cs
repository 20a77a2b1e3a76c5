using System.Formats.Asn1;
using System.Security.Cryptography;
using PlatformMLKem = System.Security.Cryptography.MLKem;

namespace P2PStack.Crypto.MLKem;

/// <summary>
/// ML-KEM (FIPS 203) implemented in managed code, for platforms where <see cref="PlatformMLKem.IsSupported"/> is
/// false. Behaves like the platform class; adds a deterministic <see cref="Encapsulate(ReadOnlySpan{byte}, Span{byte}, Span{byte})"/>
/// for known-answer tests.
/// </summary>
public sealed class ManagedMLKem : PlatformMLKem
{
    private const int SeedBytes = 64;
    private const int MessageBytes = 32;

    private readonly MLKemParameters _parameters;
    private readonly byte[] _encapsulationKey;
    private readonly byte[] _encapsulationKeyHash;
    private readonly short[] _tHat;
    private readonly short[] _matrix;
    private readonly byte[]? _decapsulationKey;
    private readonly short[]? _sHat;
    private readonly byte[]? _seed;
    private bool _disposed;

    private ManagedMLKem(MLKemParameters parameters, byte[] encapsulationKey, byte[] encapsulationKeyHash,
        short[] tHat, short[] matrix, byte[]? decapsulationKey, short[]? sHat, byte[]? seed)
        : base(parameters.Algorithm)
    {
        _parameters = parameters;
        _encapsulationKey = encapsulationKey;
        _encapsulationKeyHash = encapsulationKeyHash;
        _tHat = tHat;
        _matrix = matrix;
        _decapsulationKey = decapsulationKey;
        _sHat = sHat;
        _seed = seed;
    }

    /// <summary>True when this instance holds a decapsulation key (not only an encapsulation key).</summary>
    public bool HasDecapsulationKey => _decapsulationKey is not null;

    /// <summary>Generates a new key pair from 64 fresh random bytes (d || z).</summary>
    public static new ManagedMLKem GenerateKey(MLKemAlgorithm algorithm)
    {
        Span<byte> seed = stackalloc byte[SeedBytes];
        RandomNumberGenerator.Fill(seed);
        try
        {
            return ImportPrivateSeed(algorithm, seed);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(seed);
        }
    }

    /// <summary>Derives the key pair from the 64-byte seed d || z (ML-KEM.KeyGen_internal).</summary>
    public static new ManagedMLKem ImportPrivateSeed(MLKemAlgorithm algorithm, ReadOnlySpan<byte> seed)
    {
        MLKemParameters p = MLKemParameters.For(algorithm);
        if (seed.Length != SeedBytes)
            throw new ArgumentException($"An ML-KEM private seed must be {SeedBytes} bytes (d || z), got {seed.Length}.", nameof(seed));
        int k = p.K;
        var dk = new byte[p.DecapsulationKeyBytes];
        var tHat = new short[k * Poly.N];
        var sHat = new short[k * Poly.N];
        var matrix = new short[k * k * Poly.N];
        MLKemCore.KeyGen(p, seed[..32], seed[32..], dk, matrix, tHat, sHat);
        byte[] ek = dk.AsSpan(p.PolyVecBytes, p.EncapsulationKeyBytes).ToArray();
        byte[] hash = dk.AsSpan(p.PolyVecBytes + p.EncapsulationKeyBytes, 32).ToArray();
        return new ManagedMLKem(p, ek, hash, tHat, matrix, dk, sHat, seed.ToArray());
    }

    /// <summary>Imports an encapsulation key after the FIPS 203 type and modulus checks (Section 7.2).</summary>
    public static new ManagedMLKem ImportEncapsulationKey(MLKemAlgorithm algorithm, ReadOnlySpan<byte> source)
    {
        MLKemParameters p = MLKemParameters.For(algorithm);
        if (source.Length != p.EncapsulationKeyBytes)
            throw new ArgumentException(
                $"An {algorithm.Name} encapsulation key must be {p.EncapsulationKeyBytes} bytes, got {source.Length}.", nameof(source));
        var tHat = new short[p.K * Poly.N];
        var matrix = new short[p.K * p.K * Poly.N];
        if (!MLKemCore.TryExpandEncapsulationKey(p, source, tHat, matrix))
            throw new CryptographicException(
                $"The {algorithm.Name} encapsulation key failed the modulus check: a coefficient is not below q = 3329 (FIPS 203 Section 7.2).");
        byte[] ek = source.ToArray();
        var hash = new byte[32];
        Hashing.H(ek, hash);
        return new ManagedMLKem(p, ek, hash, tHat, matrix, null, null, null);
    }

    /// <summary>Imports a decapsulation key after the FIPS 203 type and hash checks (Section 7.3).</summary>
    public static new ManagedMLKem ImportDecapsulationKey(MLKemAlgorithm algorithm, ReadOnlySpan<byte> source)
    {
        MLKemParameters p = MLKemParameters.For(algorithm);
        if (source.Length != p.DecapsulationKeyBytes)
            throw new ArgumentException(
                $"An {algorithm.Name} decapsulation key must be {p.DecapsulationKeyBytes} bytes, got {source.Length}.", nameof(source));
        ReadOnlySpan<byte> ek = source.Slice(p.PolyVecBytes, p.EncapsulationKeyBytes);
        ReadOnlySpan<byte> storedHash = source.Slice(p.PolyVecBytes + p.EncapsulationKeyBytes, 32);
        var hash = new byte[32];
        Hashing.H(ek, hash);
        if (!CryptographicOperations.FixedTimeEquals(hash, storedHash))
            throw new CryptographicException(
                $"The {algorithm.Name} decapsulation key failed the hash check: H(ek) does not match the stored hash (FIPS 203 Section 7.3).");
        var tHat = new short[p.K * Poly.N];
        var matrix = new short[p.K * p.K * Poly.N];
        if (!MLKemCore.TryExpandEncapsulationKey(p, ek, tHat, matrix))
            throw new CryptographicException(
                $"The encapsulation key inside the {algorithm.Name} decapsulation key failed the modulus check (FIPS 203 Section 7.2).");
        var sHat = new short[p.K * Poly.N];
        MLKemCore.DecodeSecretVector(p, source, sHat);
        return new ManagedMLKem(p, ek.ToArray(), hash, tHat, matrix, source.ToArray(), sHat, null);
    }

    /// <summary>
    /// Deterministic encapsulation (ML-KEM.Encaps_internal) with the caller's 32-byte message m. Only for
    /// known-answer tests and protocols that derive m themselves; m must be fresh randomness otherwise.
    /// </summary>
    public void Encapsulate(ReadOnlySpan<byte> message, Span<byte> ciphertext, Span<byte> sharedSecret)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (message.Length != MessageBytes)
            throw new ArgumentException($"The encapsulation message must be {MessageBytes} bytes.", nameof(message));
        CheckOutput(ciphertext, _parameters.CiphertextBytes, nameof(ciphertext));
        CheckOutput(sharedSecret, 32, nameof(sharedSecret));
        MLKemCore.Encapsulate(_parameters, _tHat, _matrix, _encapsulationKeyHash, message, ciphertext, sharedSecret);
    }

    /// <inheritdoc />
    protected override void EncapsulateCore(Span<byte> ciphertext, Span<byte> sharedSecret)
    {
        Span<byte> m = stackalloc byte[MessageBytes];
        RandomNumberGenerator.Fill(m);
        MLKemCore.Encapsulate(_parameters, _tHat, _matrix, _encapsulationKeyHash, m, ciphertext, sharedSecret);
        CryptographicOperations.ZeroMemory(m);
    }

    /// <inheritdoc />
    protected override void DecapsulateCore(ReadOnlySpan<byte> ciphertext, Span<byte> sharedSecret)
    {
        if (_decapsulationKey is null || _sHat is null)
            throw new CryptographicException("This ML-KEM key holds only an encapsulation key and cannot decapsulate.");
        if (ciphertext.Length != _parameters.CiphertextBytes)
            throw new ArgumentException(
                $"An {Algorithm.Name} ciphertext must be {_parameters.CiphertextBytes} bytes, got {ciphertext.Length}.", nameof(ciphertext));
        ReadOnlySpan<byte> z = _decapsulationKey.AsSpan(_decapsulationKey.Length - 32);
        MLKemCore.Decapsulate(_parameters, _sHat, _tHat, _matrix, _encapsulationKeyHash, z, ciphertext, sharedSecret);
    }

    /// <inheritdoc />
    protected override void ExportPrivateSeedCore(Span<byte> destination)
    {
        if (_seed is null)
            throw new CryptographicException("This ML-KEM key was not created from a private seed, so it has none to export.");
        _seed.CopyTo(destination);
    }

    /// <inheritdoc />
    protected override void ExportDecapsulationKeyCore(Span<byte> destination)
    {
        if (_decapsulationKey is null)
            throw new CryptographicException("This ML-KEM key holds only an encapsulation key.");
        _decapsulationKey.CopyTo(destination);
    }

    /// <inheritdoc />
    protected override void ExportEncapsulationKeyCore(Span<byte> destination) => _encapsulationKey.CopyTo(destination);

    /// <summary>
    /// PKCS#8 OneAsymmetricKey with the ML-KEM-PrivateKey of the LAMPS ML-KEM certificate profile: the seed form
    /// [0] when the seed is known, else the expandedKey form.
    /// </summary>
    protected override bool TryExportPkcs8PrivateKeyCore(Span<byte> destination, out int bytesWritten)
    {
        if (_decapsulationKey is null)
            throw new CryptographicException("This ML-KEM key holds only an encapsulation key.");
        var inner = new AsnWriter(AsnEncodingRules.DER);
        if (_seed is not null) inner.WriteOctetString(_seed, new Asn1Tag(TagClass.ContextSpecific, 0));
        else inner.WriteOctetString(_decapsulationKey);
        byte[] innerBytes = inner.Encode();

        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteInteger(0);
            using (writer.PushSequence()) writer.WriteObjectIdentifier(AlgorithmOid(_parameters));
            writer.WriteOctetString(innerBytes);
        }
        CryptographicOperations.ZeroMemory(innerBytes);
        bool ok = writer.TryEncode(destination, out bytesWritten);
        writer.Reset();
        inner.Reset();
        return ok;
    }

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (!_disposed)
        {
            _disposed = true;
            if (_decapsulationKey is not null) CryptographicOperations.ZeroMemory(_decapsulationKey);
            if (_seed is not null) CryptographicOperations.ZeroMemory(_seed);
            if (_sHat is not null) Array.Clear(_sHat);
        }
        base.Dispose(disposing);
    }

    internal static string AlgorithmOid(MLKemParameters p) => p.K switch
    {
        2 => "2.16.840.1.101.3.4.4.1",
        3 => "2.16.840.1.101.3.4.4.2",
        _ => "2.16.840.1.101.3.4.4.3",
    };

    private static void CheckOutput(Span<byte> destination, int length, string name)
    {
        if (destination.Length != length)
            throw new ArgumentException($"The destination must be exactly {length} bytes.", name);
    }
}
