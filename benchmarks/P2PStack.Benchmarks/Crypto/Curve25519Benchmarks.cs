extern alias BC18;
using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using NSec.Cryptography;
using Bc27X25519 = Org.BouncyCastle.Math.EC.Rfc7748.X25519;
using Bc27Ed25519 = Org.BouncyCastle.Math.EC.Rfc8032.Ed25519;
using Bc18X25519 = BC18::Org.BouncyCastle.Math.EC.Rfc7748.X25519;
using Bc18Ed25519 = BC18::Org.BouncyCastle.Math.EC.Rfc8032.Ed25519;

namespace P2PStack.Benchmarks.Crypto;

/// <summary>
/// The Curve25519 work of one Noise XX handshake, per library: X25519 key generation (the ephemeral key) and
/// agreement (ee, es, se), Ed25519 signing and verifying of the 56-byte libp2p handshake payload signature input
/// ("noise-libp2p-static-key:" plus the static key). BouncyCastle 2.7 (what the stack uses) is the baseline of each
/// group; the former BouncyCastle 1.8.10 and NSec (libsodium) run in the same process. Each operation is what the
/// stack does per handshake, key import included (NSec wraps keys in handles it allocates).
/// </summary>
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class Curve25519Benchmarks
{
    private readonly byte[] _privateKey = RandomNumberGenerator.GetBytes(32);
    private readonly byte[] _peerPrivate = RandomNumberGenerator.GetBytes(32);
    private readonly byte[] _peerPublic = new byte[32];
    private readonly byte[] _out = new byte[32];
    private readonly byte[] _seed = RandomNumberGenerator.GetBytes(32);
    private readonly byte[] _edPublic = new byte[32];
    private readonly byte[] _message = [.. "noise-libp2p-static-key:"u8, .. RandomNumberGenerator.GetBytes(32)];
    private readonly byte[] _signature = new byte[64];
    private PublicKey? _nsecPeerPublic;
    private Key? _nsecSigningKey;

    [GlobalSetup]
    public void Setup()
    {
        Bc27X25519.ScalarMultBase(_peerPrivate, 0, _peerPublic, 0);
        Bc27Ed25519.GeneratePublicKey(_seed, 0, _edPublic, 0);
        Bc27Ed25519.Sign(_seed, 0, _edPublic, 0, _message, 0, _message.Length, _signature, 0);
        _nsecPeerPublic = PublicKey.Import(KeyAgreementAlgorithm.X25519, _peerPublic, KeyBlobFormat.RawPublicKey);
        _nsecSigningKey = Key.Import(SignatureAlgorithm.Ed25519, _seed, KeyBlobFormat.RawPrivateKey);
        // The three must agree, or the comparison is meaningless.
        byte[] bc18 = new byte[64];
        Bc18Ed25519.Sign(_seed, 0, _edPublic, 0, _message, 0, _message.Length, bc18, 0);
        if (!bc18.AsSpan().SequenceEqual(_signature) || !SignatureAlgorithm.Ed25519.Sign(_nsecSigningKey, _message).AsSpan().SequenceEqual(_signature))
            throw new InvalidOperationException("the Ed25519 implementations disagree");
    }

    [GlobalCleanup]
    public void Cleanup() => _nsecSigningKey?.Dispose();

    // X25519 public key from a private key (the ephemeral key of every handshake).

    [Benchmark(Baseline = true), BenchmarkCategory("X25519 keygen")]
    public byte[] X25519KeyGen_BouncyCastle27()
    {
        Bc27X25519.ScalarMultBase(_privateKey, 0, _out, 0);
        return _out;
    }

    [Benchmark, BenchmarkCategory("X25519 keygen")]
    public byte[] X25519KeyGen_BouncyCastle18()
    {
        Bc18X25519.ScalarMultBase(_privateKey, 0, _out, 0);
        return _out;
    }

    [Benchmark, BenchmarkCategory("X25519 keygen")]
    public byte[] X25519KeyGen_NSec()
    {
        using var key = Key.Import(KeyAgreementAlgorithm.X25519, _privateKey, KeyBlobFormat.RawPrivateKey);
        key.PublicKey.TryExport(KeyBlobFormat.RawPublicKey, _out, out _);
        return _out;
    }

    // X25519 agreement (three per side per handshake).

    [Benchmark(Baseline = true), BenchmarkCategory("X25519 agree")]
    public bool X25519Agree_BouncyCastle27() => Bc27X25519.CalculateAgreement(_privateKey, 0, _peerPublic, 0, _out, 0);

    [Benchmark, BenchmarkCategory("X25519 agree")]
    public bool X25519Agree_BouncyCastle18() => Bc18X25519.CalculateAgreement(_privateKey, 0, _peerPublic, 0, _out, 0);

    [Benchmark, BenchmarkCategory("X25519 agree")]
    public byte[] X25519Agree_NSec()
    {
        // The handshake needs the secret's bytes (they go into HKDF), so it is exported as the stack would.
        using var key = Key.Import(KeyAgreementAlgorithm.X25519, _privateKey, KeyBlobFormat.RawPrivateKey);
        using var shared = KeyAgreementAlgorithm.X25519.Agree(key, _nsecPeerPublic!,
            new SharedSecretCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });
        return shared!.Export(SharedSecretBlobFormat.RawSharedSecret);
    }

    // Ed25519 signing of the handshake payload (once per side).

    [Benchmark(Baseline = true), BenchmarkCategory("Ed25519 sign")]
    public byte[] Ed25519Sign_BouncyCastle27()
    {
        Bc27Ed25519.Sign(_seed, 0, _edPublic, 0, _message, 0, _message.Length, _signature, 0);
        return _signature;
    }

    [Benchmark, BenchmarkCategory("Ed25519 sign")]
    public byte[] Ed25519Sign_BouncyCastle18()
    {
        Bc18Ed25519.Sign(_seed, 0, _edPublic, 0, _message, 0, _message.Length, _signature, 0);
        return _signature;
    }

    [Benchmark, BenchmarkCategory("Ed25519 sign")]
    public byte[] Ed25519Sign_NSec()
    {
        SignatureAlgorithm.Ed25519.Sign(_nsecSigningKey!, _message, _signature);
        return _signature;
    }

    // Ed25519 verification of the remote's payload (once per side; the key is the remote's, imported each time).

    [Benchmark(Baseline = true), BenchmarkCategory("Ed25519 verify")]
    public bool Ed25519Verify_BouncyCastle27() => Bc27Ed25519.Verify(_signature, 0, _edPublic, 0, _message, 0, _message.Length);

    [Benchmark, BenchmarkCategory("Ed25519 verify")]
    public bool Ed25519Verify_BouncyCastle18() => Bc18Ed25519.Verify(_signature, 0, _edPublic, 0, _message, 0, _message.Length);

    [Benchmark, BenchmarkCategory("Ed25519 verify")]
    public bool Ed25519Verify_NSec()
    {
        var key = PublicKey.Import(SignatureAlgorithm.Ed25519, _edPublic, KeyBlobFormat.RawPublicKey);
        return SignatureAlgorithm.Ed25519.Verify(key, _message, _signature);
    }
}
