using System.Security.Cryptography;
using System.Text.Json;

namespace P2PStack.Crypto.MLKem.Tests;

/// <summary>Every case of the NIST ACVP ML-KEM keyGen and encapDecap vector sets.</summary>
public class AcvpTests
{
    internal static MLKemAlgorithm AlgorithmOf(string name) => name switch
    {
        "ML-KEM-512" => MLKemAlgorithm.MLKem512,
        "ML-KEM-768" => MLKemAlgorithm.MLKem768,
        "ML-KEM-1024" => MLKemAlgorithm.MLKem1024,
        _ => throw new InvalidDataException($"Unknown parameter set {name}"),
    };

    private static Dictionary<string, JsonElement> ResultsById(JsonDocument expected)
    {
        var map = new Dictionary<string, JsonElement>();
        foreach (JsonElement group in expected.RootElement.GetProperty("testGroups").EnumerateArray())
            foreach (JsonElement test in group.GetProperty("tests").EnumerateArray())
                map[test.Str("tcId")] = test;
        return map;
    }

    [Fact]
    public void KeyGen_AllCases()
    {
        using JsonDocument prompt = VectorFiles.Load("mlkem", "acvp_v1.1.0.40_keyGen_prompt.json");
        using JsonDocument expected = VectorFiles.Load("mlkem", "acvp_v1.1.0.40_keyGen_expectedResults.json");
        Dictionary<string, JsonElement> results = ResultsById(expected);
        int count = 0;
        foreach (JsonElement group in prompt.RootElement.GetProperty("testGroups").EnumerateArray())
        {
            MLKemAlgorithm alg = AlgorithmOf(group.Str("parameterSet"));
            foreach (JsonElement test in group.GetProperty("tests").EnumerateArray())
            {
                JsonElement result = results[test.Str("tcId")];
                byte[] seed = [.. test.Hex("d"), .. test.Hex("z")];
                using ManagedMLKem key = ManagedMLKem.ImportPrivateSeed(alg, seed);
                Assert.Equal(result.Hex("ek"), key.ExportEncapsulationKey());
                Assert.Equal(result.Hex("dk"), key.ExportDecapsulationKey());
                Assert.Equal(seed, key.ExportPrivateSeed());
                count++;
            }
        }
        Assert.Equal(75, count);
    }

    [Fact]
    public void EncapDecap_AllCases()
    {
        using JsonDocument prompt = VectorFiles.Load("mlkem", "acvp_v1.1.0.40_encapDecap_prompt.json");
        using JsonDocument expected = VectorFiles.Load("mlkem", "acvp_v1.1.0.40_encapDecap_expectedResults.json");
        Dictionary<string, JsonElement> results = ResultsById(expected);
        var counts = new Dictionary<string, int>();
        foreach (JsonElement group in prompt.RootElement.GetProperty("testGroups").EnumerateArray())
        {
            MLKemAlgorithm alg = AlgorithmOf(group.Str("parameterSet"));
            string function = group.Str("function");
            foreach (JsonElement test in group.GetProperty("tests").EnumerateArray())
            {
                string id = test.Str("tcId");
                JsonElement result = results[id];
                switch (function)
                {
                    case "encapsulation":
                    {
                        using ManagedMLKem key = ManagedMLKem.ImportEncapsulationKey(alg, test.Hex("ek"));
                        var c = new byte[alg.CiphertextSizeInBytes];
                        var k = new byte[32];
                        key.Encapsulate(test.Hex("m"), c, k);
                        Assert.Equal(result.Hex("c"), c);
                        Assert.Equal(result.Hex("k"), k);
                        break;
                    }
                    case "decapsulation":
                    {
                        using ManagedMLKem key = ManagedMLKem.ImportDecapsulationKey(alg, test.Hex("dk"));
                        Assert.Equal(result.Hex("k"), key.Decapsulate(test.Hex("c")));
                        break;
                    }
                    case "decapsulationKeyCheck":
                    {
                        bool passed = Passes(() => ManagedMLKem.ImportDecapsulationKey(alg, test.Hex("dk")).Dispose());
                        Assert.True(ExpectedPass(result) == passed, $"tcId {id}: decapsulation key check gave {passed}");
                        break;
                    }
                    case "encapsulationKeyCheck":
                    {
                        bool passed = Passes(() => ManagedMLKem.ImportEncapsulationKey(alg, test.Hex("ek")).Dispose());
                        Assert.True(ExpectedPass(result) == passed, $"tcId {id}: encapsulation key check gave {passed}");
                        break;
                    }
                    default:
                        throw new InvalidDataException($"Unknown ACVP function {function}");
                }
                counts[function] = counts.GetValueOrDefault(function) + 1;
            }
        }
        Assert.Equal(75, counts["encapsulation"]);
        Assert.Equal(30, counts["decapsulation"]);
        Assert.Equal(30, counts["decapsulationKeyCheck"]);
        Assert.Equal(30, counts["encapsulationKeyCheck"]);
    }

    private static bool ExpectedPass(JsonElement result)
    {
        JsonElement value = result.GetProperty("testPassed");
        return value.ValueKind == JsonValueKind.String ? bool.Parse(value.GetString()!) : value.GetBoolean();
    }

    internal static bool Passes(Action action)
    {
        try
        {
            action();
            return true;
        }
        catch (CryptographicException)
        {
            return false; // FIPS 203 input check failed
        }
        catch (ArgumentException)
        {
            return false; // wrong length (type check), reported like the platform MLKem does
        }
    }
}
