using System.Security.Cryptography;
using System.Text.Json;

namespace P2PStack.Crypto.MLKem.Tests;

/// <summary>Every case of every Wycheproof ML-KEM file (testvectors_v1), valid and invalid.</summary>
public class WycheproofTests
{
    public static TheoryData<int> Sizes => new() { 512, 768, 1024 };

    private static MLKemAlgorithm AlgorithmOf(int size) => size switch
    {
        512 => MLKemAlgorithm.MLKem512,
        768 => MLKemAlgorithm.MLKem768,
        _ => MLKemAlgorithm.MLKem1024,
    };

    private static IEnumerable<(JsonElement Group, JsonElement Test)> Cases(JsonDocument doc)
    {
        foreach (JsonElement group in doc.RootElement.GetProperty("testGroups").EnumerateArray())
            foreach (JsonElement test in group.GetProperty("tests").EnumerateArray())
                yield return (group, test);
    }

    private static string Comment(JsonElement test) =>
        test.TryGetProperty("comment", out JsonElement c) ? c.GetString() ?? "" : "";

    private static int DeclaredCount(JsonDocument doc) => doc.RootElement.GetProperty("numberOfTests").GetInt32();

    private static bool IsValid(JsonElement test) => test.Str("result") switch
    {
        "valid" => true,
        "invalid" => false,
        var other => throw new InvalidDataException($"Unexpected result '{other}'"),
    };

    [Theory]
    [MemberData(nameof(Sizes))]
    public void KeyGenSeed(int size)
    {
        using JsonDocument doc = VectorFiles.Load("mlkem", "wycheproof", "testvectors_v1", $"mlkem_{size}_keygen_seed_test.json");
        int count = 0;
        foreach (var (_, test) in Cases(doc))
        {
            Assert.True(IsValid(test));
            using ManagedMLKem key = ManagedMLKem.ImportPrivateSeed(AlgorithmOf(size), test.Hex("seed"));
            Assert.Equal(test.Hex("ek"), key.ExportEncapsulationKey());
            Assert.Equal(test.Hex("dk"), key.ExportDecapsulationKey());
            count++;
        }
        Assert.Equal(DeclaredCount(doc), count);
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void Encaps(int size)
    {
        MLKemAlgorithm alg = AlgorithmOf(size);
        using JsonDocument doc = VectorFiles.Load("mlkem", "wycheproof", "testvectors_v1", $"mlkem_{size}_encaps_test.json");
        int count = 0;
        foreach (var (_, test) in Cases(doc))
        {
            string id = test.Str("tcId");
            byte[] c = new byte[alg.CiphertextSizeInBytes], k = new byte[32];
            bool ok = AcvpTests.Passes(() =>
            {
                using ManagedMLKem key = ManagedMLKem.ImportEncapsulationKey(alg, test.Hex("ek"));
                key.Encapsulate(test.Hex("m"), c, k);
            });
            Assert.True(IsValid(test) == ok, $"tcId {id}: encapsulation {(ok ? "succeeded" : "failed")}");
            if (ok)
            {
                Assert.Equal(test.Hex("c"), c);
                Assert.Equal(test.Hex("K"), k);
            }
            count++;
        }
        Assert.Equal(DeclaredCount(doc), count);
    }

    /// <summary>Seed-based key, then decapsulation (including wrong-length seeds and ciphertexts).</summary>
    [Theory]
    [MemberData(nameof(Sizes))]
    public void SeedDecaps(int size)
    {
        MLKemAlgorithm alg = AlgorithmOf(size);
        using JsonDocument doc = VectorFiles.Load("mlkem", "wycheproof", "testvectors_v1", $"mlkem_{size}_test.json");
        int count = 0;
        foreach (var (_, test) in Cases(doc))
        {
            string id = test.Str("tcId");
            byte[]? k = null;
            bool ok = AcvpTests.Passes(() =>
            {
                using ManagedMLKem key = ManagedMLKem.ImportPrivateSeed(alg, test.Hex("seed"));
                if (test.TryGetProperty("ek", out JsonElement ek) && ek.GetString()!.Length > 0)
                    Assert.Equal(Convert.FromHexString(ek.GetString()!), key.ExportEncapsulationKey());
                k = key.Decapsulate(test.Hex("c"));
            });
            Assert.True(IsValid(test) == ok, $"tcId {id}: {(ok ? "succeeded" : "failed")} ({Comment(test)})");
            if (ok) Assert.Equal(test.Hex("K"), k);
            count++;
        }
        Assert.Equal(DeclaredCount(doc), count);
    }

    /// <summary>Expanded decapsulation key import (type and hash checks) and decapsulation.</summary>
    [Theory]
    [MemberData(nameof(Sizes))]
    public void SemiExpandedDecaps(int size)
    {
        MLKemAlgorithm alg = AlgorithmOf(size);
        using JsonDocument doc = VectorFiles.Load("mlkem", "wycheproof", "testvectors_v1", $"mlkem_{size}_semi_expanded_decaps_test.json");
        int count = 0;
        foreach (var (_, test) in Cases(doc))
        {
            string id = test.Str("tcId");
            byte[]? k = null;
            bool ok = AcvpTests.Passes(() =>
            {
                using ManagedMLKem key = ManagedMLKem.ImportDecapsulationKey(alg, test.Hex("dk"));
                k = key.Decapsulate(test.Hex("c"));
            });
            Assert.True(IsValid(test) == ok, $"tcId {id}: {(ok ? "succeeded" : "failed")} ({Comment(test)})");
            if (ok) Assert.Equal(test.Hex("K"), k);
            count++;
        }
        Assert.Equal(DeclaredCount(doc), count);
    }
}
