extern alias BC18;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using NSec.Cryptography;
using P2PStack.Crypto.MLKem;
using Bc27X25519 = Org.BouncyCastle.Math.EC.Rfc7748.X25519;
using Bc27Ed25519 = Org.BouncyCastle.Math.EC.Rfc8032.Ed25519;
using Bc18X25519 = BC18::Org.BouncyCastle.Math.EC.Rfc7748.X25519;
using Bc18Ed25519 = BC18::Org.BouncyCastle.Math.EC.Rfc8032.Ed25519;

namespace P2PStack.Benchmarks.Crypto;

/// <summary>
/// The Curve25519 work of one Noise XX handshake, per library: X25519 key generation (the ephemeral key) and
/// agreement (ee, es, se), Ed25519 signing and verifying of the 56-byte libp2p handshake payload signature input
/// ("noise-libp2p-static-key:" plus the static key). BouncyCastle 2.7 (what the stack uses) is the baseline of each
/// group; the former BouncyCastle 1.8.10, NSec (libsodium) and OpenSSL's libcrypto (what the stack's
/// <see cref="X25519Key"/> uses for X25519 where it loads; Ed25519 through EVP_DigestSign/Verify for comparison only)
/// run in the same process. Each operation is what the stack does per handshake, key import included (NSec and
/// OpenSSL wrap keys in handles they allocate).
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
    private X25519Key? _opensslKey;
    private nint _opensslEdKey;

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
        _opensslKey = X25519Key.Import(_privateKey, X25519Implementation.OpenSsl);
        _opensslEdKey = OpenSslEd25519.NewRawPrivateKey(OpenSslEd25519.NidEd25519, 0, _seed, 32);
        byte[] viaOpenSsl = new byte[64], agreed = new byte[32];
        if (_opensslEdKey == 0 || !OpenSslEd25519.Sign(_opensslEdKey, _message, viaOpenSsl) || !viaOpenSsl.AsSpan().SequenceEqual(_signature) ||
            !OpenSslEd25519.Verify(_edPublic, _message, _signature))
            throw new InvalidOperationException("OpenSSL's Ed25519 disagrees");
        Bc27X25519.CalculateAgreement(_privateKey, 0, _peerPublic, 0, _out, 0);
        if (!_opensslKey.Agree(_peerPublic, agreed) || !agreed.AsSpan().SequenceEqual(_out))
            throw new InvalidOperationException("OpenSSL's X25519 disagrees");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _nsecSigningKey?.Dispose();
        _opensslKey?.Dispose();
        OpenSslEd25519.PkeyFree(_opensslEdKey);
    }

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

    [Benchmark, BenchmarkCategory("X25519 keygen")]
    public byte[] X25519KeyGen_OpenSsl()
    {
        // As the stack makes an ephemeral key: generated inside OpenSSL, its handle freed after use.
        using var key = X25519Key.Generate(X25519Implementation.OpenSsl);
        key.PublicKey.CopyTo(_out);
        return _out;
    }

    [Benchmark, BenchmarkCategory("X25519 keygen")]
    public byte[] X25519KeyGen_OpenSslImport()
    {
        // A key from given private bytes (X-Wing's key from its seed): OpenSSL computes the public key on import.
        using var key = X25519Key.Import(_privateKey, X25519Implementation.OpenSsl);
        key.PublicKey.CopyTo(_out);
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

    [Benchmark, BenchmarkCategory("X25519 agree")]
    public bool X25519Agree_OpenSsl() => _opensslKey!.Agree(_peerPublic, _out);   // the key held, the peer's key imported

    // X-Wing's encapsulation: a one-use scalar's public key and its agreement with the recipient's key.

    [Benchmark(Baseline = true), BenchmarkCategory("X25519 base+agree")]
    public bool X25519BaseAgree_BouncyCastle27()
    {
        Bc27X25519.ScalarMultBase(_privateKey, 0, _signature, 0);
        return Bc27X25519.CalculateAgreement(_privateKey, 0, _peerPublic, 0, _out, 0);
    }

    [Benchmark, BenchmarkCategory("X25519 base+agree")]
    public bool X25519BaseAgree_OpenSsl() =>
        X25519Key.ScalarMultBaseAndAgree(_privateKey, _peerPublic, _signature.AsSpan(0, 32), _out, X25519Implementation.OpenSsl);

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

    [Benchmark, BenchmarkCategory("Ed25519 sign")]
    public bool Ed25519Sign_OpenSsl() => OpenSslEd25519.Sign(_opensslEdKey, _message, _signature);

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

    [Benchmark, BenchmarkCategory("Ed25519 verify")]
    public bool Ed25519Verify_OpenSsl() => OpenSslEd25519.Verify(_edPublic, _message, _signature);
}

/// <summary>Ed25519 through OpenSSL's EVP_DigestSign / EVP_DigestVerify, for the comparison above only.</summary>
internal static class OpenSslEd25519
{
    public const int NidEd25519 = 1087;
    private const string Lib = "libcrypto.so.3";

    [DllImport(Lib, EntryPoint = "EVP_PKEY_new_raw_private_key")]
    public static extern nint NewRawPrivateKey(int type, nint engine, byte[] key, nuint length);

    [DllImport(Lib, EntryPoint = "EVP_PKEY_new_raw_public_key")]
    private static extern nint NewRawPublicKey(int type, nint engine, byte[] key, nuint length);

    [DllImport(Lib, EntryPoint = "EVP_PKEY_free")]
    public static extern void PkeyFree(nint key);

    [DllImport(Lib, EntryPoint = "EVP_MD_CTX_new")]
    private static extern nint MdCtxNew();

    [DllImport(Lib, EntryPoint = "EVP_MD_CTX_free")]
    private static extern void MdCtxFree(nint ctx);

    [DllImport(Lib, EntryPoint = "EVP_DigestSignInit")]
    private static extern int DigestSignInit(nint ctx, nint pctx, nint md, nint engine, nint key);

    [DllImport(Lib, EntryPoint = "EVP_DigestSign")]
    private static extern int DigestSign(nint ctx, byte[] signature, ref nuint signatureLength, byte[] message, nuint length);

    [DllImport(Lib, EntryPoint = "EVP_DigestVerifyInit")]
    private static extern int DigestVerifyInit(nint ctx, nint pctx, nint md, nint engine, nint key);

    [DllImport(Lib, EntryPoint = "EVP_DigestVerify")]
    private static extern int DigestVerify(nint ctx, byte[] signature, nuint signatureLength, byte[] message, nuint length);

    public static bool Sign(nint key, byte[] message, byte[] signature)
    {
        nint ctx = MdCtxNew();
        try
        {
            nuint length = 64;
            return DigestSignInit(ctx, 0, 0, 0, key) == 1 && DigestSign(ctx, signature, ref length, message, (nuint)message.Length) == 1;
        }
        finally
        {
            MdCtxFree(ctx);
        }
    }

    public static bool Verify(byte[] publicKey, byte[] message, byte[] signature)
    {
        nint key = NewRawPublicKey(NidEd25519, 0, publicKey, 32);
        nint ctx = MdCtxNew();
        try
        {
            return DigestVerifyInit(ctx, 0, 0, 0, key) == 1 && DigestVerify(ctx, signature, 64, message, (nuint)message.Length) == 1;
        }
        finally
        {
            MdCtxFree(ctx);
            PkeyFree(key);
        }
    }
}
