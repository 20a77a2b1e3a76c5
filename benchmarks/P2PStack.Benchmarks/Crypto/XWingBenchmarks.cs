using BenchmarkDotNet.Attributes;
using Org.BouncyCastle.Math.EC.Rfc7748;
using P2PStack.Crypto.MLKem;

namespace P2PStack.Benchmarks.Crypto;

/// <summary>
/// X-Wing (ML-KEM-768 + X25519) on the default (SIMD when available) path, next to the classical X25519 steps
/// it adds, so the cost of the hybrid over X25519 alone is visible. Inputs are fixed.
/// </summary>
public class XWingBenchmarks
{
    private readonly byte[] _seed = Filled(XWingKem.SeedSize, 0x31);
    private readonly byte[] _eseed = Filled(XWingKem.EncapsulationSeedSize, 0x41);
    private readonly byte[] _ciphertext = new byte[XWingKem.CiphertextSize];
    private readonly byte[] _ciphertextOut = new byte[XWingKem.CiphertextSize];
    private readonly byte[] _sharedSecret = new byte[XWingKem.SharedSecretSize];
    private readonly byte[] _x25519Private = Filled(32, 0x51);
    private readonly byte[] _x25519PeerPublic = new byte[32];
    private readonly byte[] _x25519Out = new byte[32];
    private byte[] _publicKey = [];
    private XWingKem? _key;

    [GlobalSetup]
    public void Setup()
    {
        SimdSwitch.ForceScalar = false;
        _key = XWingKem.FromSeed(_seed);
        _publicKey = _key.ExportPublicKey();
        _key.Encapsulate(_eseed, _ciphertext, _sharedSecret);
        X25519.ScalarMultBase(Filled(32, 0x61), 0, _x25519PeerPublic, 0);
    }

    [GlobalCleanup]
    public void Cleanup() => _key?.Dispose();

    /// <summary>X-Wing key pair from its 32-byte seed.</summary>
    [Benchmark]
    public XWingKem XWingKeyGen()
    {
        XWingKem key = XWingKem.FromSeed(_seed);
        key.Dispose();
        return key;
    }

    /// <summary>Deterministic X-Wing encapsulation (fixed eseed) to an already imported public key.</summary>
    [Benchmark]
    public byte[] XWingEncapsulate()
    {
        _key!.Encapsulate(_eseed, _ciphertextOut, _sharedSecret);
        return _sharedSecret;
    }

    /// <summary>Import the 1216-byte public key, then encapsulate with the fixed eseed.</summary>
    [Benchmark]
    public byte[] XWingEncapsulateFreshKey()
    {
        using XWingKem key = XWingKem.FromPublicKey(_publicKey);
        key.Encapsulate(_eseed, _ciphertextOut, _sharedSecret);
        return _sharedSecret;
    }

    /// <summary>X-Wing decapsulation with an already imported private key.</summary>
    [Benchmark]
    public byte[] XWingDecapsulate()
    {
        _key!.Decapsulate(_ciphertext, _sharedSecret);
        return _sharedSecret;
    }

    /// <summary>Classical baseline: X25519 public key from a private scalar (BouncyCastle, as inside X-Wing).</summary>
    [Benchmark]
    public byte[] X25519KeyGen()
    {
        X25519.ScalarMultBase(_x25519Private, 0, _x25519Out, 0);
        return _x25519Out;
    }

    /// <summary>Classical baseline: one X25519 Diffie-Hellman.</summary>
    [Benchmark]
    public byte[] X25519SharedSecret()
    {
        X25519.ScalarMult(_x25519Private, 0, _x25519PeerPublic, 0, _x25519Out, 0);
        return _x25519Out;
    }

    private static byte[] Filled(int length, byte start)
    {
        var bytes = new byte[length];
        for (int i = 0; i < length; i++) bytes[i] = (byte)(start + i);
        return bytes;
    }
}
