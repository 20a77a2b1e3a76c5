using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using P2PStack.Privacy.Onion.Crypto;
using P2PStack.Privacy.Onion.Wire;

namespace P2PStack.Benchmarks.Onion;

/// <summary>
/// Per-cell CPU of the onion layer transform, isolated from links, muxers and scheduling: what one relay does to each
/// relay cell (one <see cref="LayerCipher"/> pass over the 513-byte body of a 514-byte cell), and what a client does to
/// send one cell to the exit of a 3-hop circuit (three passes). The anchor in the same run is AES-256-GCM sealing the
/// same number of bytes (System.Security.Cryptography, OpenSSL): an AEAD a link layer would spend on the cell anyway.
/// </summary>
public class CellBenchmarks
{
    private static readonly CellLayout Layout = new(514);
    private readonly byte[] _body = new byte[Layout.BodySize];
    private readonly byte[] _sealed = new byte[Layout.BodySize];
    private readonly byte[] _tag = new byte[16];
    private readonly byte[] _nonce = new byte[12];
    private LayerCipher _relay = null!;
    private LayerCipher[] _client = [];
    private Aes256 _stream = null!;
    private Polyval _hash = null!;
    private readonly byte[] _iv = new byte[16];
    private readonly byte[] _rest = new byte[Layout.BodySize - LayerCipher.TagSize];
    private ulong _tweak;
    private AesGcm _aead = null!;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(20);
        random.NextBytes(_body);
        LayerCipher Layer(bool decrypting)
        {
            var keys = new byte[LayerCipher.KeyMaterialSize];
            random.NextBytes(keys);
            return new LayerCipher(keys, decrypting);
        }
        _relay = Layer(decrypting: false);
        _client = [Layer(true), Layer(true), Layer(true)];
        var streamKey = new byte[Aes256.KeySize];
        random.NextBytes(streamKey);
        _stream = new Aes256(streamKey, decryption: false);
        var hashKey = new byte[Polyval.KeySize];
        random.NextBytes(hashKey);
        _hash = new Polyval(hashKey);
        random.NextBytes(_iv);
        random.NextBytes(_rest);
        var key = new byte[32];
        random.NextBytes(key);
        _aead = new AesGcm(key, 16);
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _relay.Dispose();
        foreach (var layer in _client) layer.Dispose();
        _stream.Dispose();
        _aead.Dispose();
    }

    /// <summary>AES-256-GCM over one cell body (the anchor).</summary>
    [Benchmark(Baseline = true)]
    public void AesGcmSealBody() => _aead.Encrypt(_nonce, _body, _sealed, _tag);

    /// <summary>One relay's layer over one cell (the transform every relay applies to every relay cell it passes).</summary>
    [Benchmark]
    public bool RelayLayer() => _relay.Encrypt(_body);

    /// <summary>One of the client's layers over one cell (the inverse transform).</summary>
    [Benchmark]
    public bool ClientOneLayer() => _client[0].Decrypt(_body);

    /// <summary>The layer's counter-mode part alone: the keystream over the body's 497 bytes after the tag.</summary>
    [Benchmark]
    public void Keystream497() => _stream.XorKeystream(_iv, _rest);

    /// <summary>The layer's hash alone: POLYVAL over the 497 bytes, the counter and the length.</summary>
    [Benchmark]
    public void Polyval497() => _hash.Hash(_rest, _tweak++);

    /// <summary>The client wrapping one cell for the exit of a 3-hop circuit (three layers).</summary>
    [Benchmark]
    public bool ClientThreeLayers()
    {
        bool recognised = false;
        for (int hop = 2; hop >= 0; hop--) recognised |= _client[hop].Decrypt(_body);
        return recognised;
    }
}
