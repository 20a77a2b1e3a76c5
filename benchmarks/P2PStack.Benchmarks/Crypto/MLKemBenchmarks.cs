using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using P2PStack.Crypto.MLKem;

namespace P2PStack.Benchmarks.Crypto;

/// <summary>Which ML-KEM code path runs: the AVX2 vector code (when the CPU has it) or the forced scalar code.</summary>
public enum CodePath { Simd, Scalar }

/// <summary>
/// ML-KEM (FIPS 203) operations of <see cref="ManagedMLKem"/> per parameter set and code path. Inputs are fixed
/// (seed, message m), so every iteration does the same work. The "FreshKey" variants include parsing the key
/// bytes, which is what @noble/post-quantum's encapsulate(pk) / decapsulate(ct, sk) do on every call.
/// </summary>
public class MLKemBenchmarks
{
    private byte[] _seed = [];
    private byte[] _message = [];
    private byte[] _encapsulationKey = [];
    private byte[] _decapsulationKey = [];
    private byte[] _ciphertext = [];
    private byte[] _ciphertextOut = [];
    private readonly byte[] _sharedSecret = new byte[32];
    private MLKemAlgorithm _algorithm = MLKemAlgorithm.MLKem768;
    private ManagedMLKem? _key;

    [Params("ML-KEM-512", "ML-KEM-768", "ML-KEM-1024")]
    public string Set { get; set; } = "ML-KEM-768";

    [ParamsAllValues]
    public CodePath Path { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        if (Path == CodePath.Simd && !SimdSwitch.Avx2Available)
            throw new InvalidOperationException("This CPU has no AVX2, so the SIMD path cannot be measured.");
        SimdSwitch.ForceScalar = Path == CodePath.Scalar;
        _algorithm = Set switch
        {
            "ML-KEM-512" => MLKemAlgorithm.MLKem512,
            "ML-KEM-768" => MLKemAlgorithm.MLKem768,
            "ML-KEM-1024" => MLKemAlgorithm.MLKem1024,
            _ => throw new ArgumentException($"Unknown parameter set {Set}."),
        };
        _seed = Filled(64, 0x11);
        _message = Filled(32, 0x22);
        _key = ManagedMLKem.ImportPrivateSeed(_algorithm, _seed);
        _encapsulationKey = _key.ExportEncapsulationKey();
        _decapsulationKey = _key.ExportDecapsulationKey();
        _ciphertext = new byte[_algorithm.CiphertextSizeInBytes];
        _ciphertextOut = new byte[_algorithm.CiphertextSizeInBytes];
        _key.Encapsulate(_message, _ciphertext, _sharedSecret);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _key?.Dispose();
        SimdSwitch.ForceScalar = false;
    }

    /// <summary>ML-KEM.KeyGen_internal from the 64-byte seed d || z.</summary>
    [Benchmark]
    public ManagedMLKem KeyGen()
    {
        ManagedMLKem key = ManagedMLKem.ImportPrivateSeed(_algorithm, _seed);
        key.Dispose();
        return key;
    }

    /// <summary>Deterministic encapsulation (fixed m) to an already imported key.</summary>
    [Benchmark]
    public byte[] Encapsulate()
    {
        _key!.Encapsulate(_message, _ciphertextOut, _sharedSecret);
        return _sharedSecret;
    }

    /// <summary>Import the encapsulation key bytes (with the modulus check), then encapsulate with fixed m.</summary>
    [Benchmark]
    public byte[] EncapsulateFreshKey()
    {
        using ManagedMLKem key = ManagedMLKem.ImportEncapsulationKey(_algorithm, _encapsulationKey);
        key.Encapsulate(_message, _ciphertextOut, _sharedSecret);
        return _sharedSecret;
    }

    /// <summary>Decapsulation with an already imported key.</summary>
    [Benchmark]
    public byte[] Decapsulate()
    {
        _key!.Decapsulate(_ciphertext, _sharedSecret);
        return _sharedSecret;
    }

    /// <summary>Import the decapsulation key bytes (with the hash check), then decapsulate.</summary>
    [Benchmark]
    public byte[] DecapsulateFreshKey()
    {
        using ManagedMLKem key = ManagedMLKem.ImportDecapsulationKey(_algorithm, _decapsulationKey);
        key.Decapsulate(_ciphertext, _sharedSecret);
        return _sharedSecret;
    }

    private static byte[] Filled(int length, byte start)
    {
        var bytes = new byte[length];
        for (int i = 0; i < length; i++) bytes[i] = (byte)(start + i);
        return bytes;
    }
}
