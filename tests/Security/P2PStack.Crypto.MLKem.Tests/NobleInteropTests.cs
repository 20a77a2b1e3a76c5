using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace P2PStack.Crypto.MLKem.Tests;

/// <summary>Runs interop/noble/mlkem.mjs (@noble/post-quantum), installing it with npm ci on first use.</summary>
public sealed class NobleFixture
{
    private readonly string _directory;

    public NobleFixture()
    {
        string? repo = AppContext.BaseDirectory;
        while (repo is not null && !File.Exists(Path.Combine(repo, "P2PStack.sln"))) repo = Path.GetDirectoryName(repo);
        if (repo is null) throw new InvalidOperationException("Could not find P2PStack.sln above the test assembly.");
        _directory = Path.Combine(repo, "interop", "noble");
        if (!File.Exists(Path.Combine(_directory, "node_modules", "@noble", "post-quantum", "package.json")))
        {
            (int code, string output, string error) = Run("npm", "ci --no-audit --no-fund", null, TimeSpan.FromMinutes(5));
            if (code != 0) throw new InvalidOperationException($"npm ci in {_directory} failed ({code}): {error}{output}");
        }
    }

    public JsonArray Call(JsonArray commands)
    {
        (int code, string output, string error) = Run("node", "mlkem.mjs", commands.ToJsonString(), TimeSpan.FromMinutes(2));
        if (code != 0) throw new InvalidOperationException($"node mlkem.mjs failed ({code}): {error}");
        return JsonNode.Parse(output)!.AsArray();
    }

    private (int, string, string) Run(string file, string arguments, string? stdin, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(file, arguments)
        {
            WorkingDirectory = _directory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException($"Cannot start '{file}' (Node.js >= 20.19 and npm must be on PATH): {e.Message}", e);
        }
        using (process)
        {
            Task<string> output = process.StandardOutput.ReadToEndAsync();
            Task<string> error = process.StandardError.ReadToEndAsync();
            if (stdin is not null) process.StandardInput.Write(stdin);
            process.StandardInput.Close();
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"{file} {arguments} did not finish within {timeout}.");
            }
            return (process.ExitCode, output.GetAwaiter().GetResult(), error.GetAwaiter().GetResult());
        }
    }
}

public class NobleInteropTests(NobleFixture noble) : IClassFixture<NobleFixture>
{
    public static TheoryData<string> Algorithms => PropertyTests.Algorithms;

    private static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);

    private static byte[] Bytes(JsonNode? result, string field)
    {
        if (result?[ "error"] is JsonNode error) throw new InvalidOperationException($"noble: {error}");
        return Convert.FromHexString(result![field]!.GetValue<string>());
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void BothDirectionsAgree(string name)
    {
        MLKemAlgorithm alg = AcvpTests.AlgorithmOf(name);
        var random = new Random(name.GetHashCode(StringComparison.Ordinal) & 0xFFFF);
        const int Rounds = 6;
        var seeds = new byte[Rounds][];
        var messages = new byte[Rounds][];
        var ours = new ManagedMLKem[Rounds];
        var ourCiphertexts = new byte[Rounds][];
        var ourSecrets = new byte[Rounds][];
        var commands = new JsonArray();
        for (int i = 0; i < Rounds; i++)
        {
            seeds[i] = new byte[64];
            messages[i] = new byte[32];
            random.NextBytes(seeds[i]);
            random.NextBytes(messages[i]);
            ours[i] = ManagedMLKem.ImportPrivateSeed(alg, seeds[i]);
            ours[i].Encapsulate(out ourCiphertexts[i], out ourSecrets[i]);
            string ek = Hex(ours[i].ExportEncapsulationKey());
            string dk = Hex(ours[i].ExportDecapsulationKey());
            byte[] tampered = (byte[])ourCiphertexts[i].Clone();
            tampered[random.Next(tampered.Length)] ^= 1;
            commands.Add(new JsonObject { ["op"] = "keygen", ["alg"] = name, ["seed"] = Hex(seeds[i]) });
            commands.Add(new JsonObject { ["op"] = "encapsulate", ["alg"] = name, ["ek"] = ek, ["m"] = Hex(messages[i]) });
            commands.Add(new JsonObject { ["op"] = "encapsulate", ["alg"] = name, ["ek"] = ek });
            commands.Add(new JsonObject { ["op"] = "decapsulate", ["alg"] = name, ["dk"] = dk, ["c"] = Hex(ourCiphertexts[i]) });
            commands.Add(new JsonObject { ["op"] = "decapsulate", ["alg"] = name, ["dk"] = dk, ["c"] = Hex(tampered) });
            ourCiphertexts[i] = [.. ourCiphertexts[i], .. tampered]; // keep the tampered copy next to the real one
        }

        JsonArray results = noble.Call(commands);
        Assert.Equal(commands.Count, results.Count);
        for (int i = 0; i < Rounds; i++)
        {
            using ManagedMLKem key = ours[i];
            int ct = alg.CiphertextSizeInBytes;
            JsonNode? keygen = results[5 * i], encM = results[5 * i + 1], encRandom = results[5 * i + 2];
            JsonNode? dec = results[5 * i + 3], decTampered = results[5 * i + 4];

            // Same keys from the same seed.
            Assert.Equal(key.ExportEncapsulationKey(), Bytes(keygen, "ek"));
            Assert.Equal(key.ExportDecapsulationKey(), Bytes(keygen, "dk"));

            // Deterministic encapsulation agrees byte for byte.
            byte[] c = new byte[ct], k = new byte[32];
            key.Encapsulate(messages[i], c, k);
            Assert.Equal(c, Bytes(encM, "c"));
            Assert.Equal(k, Bytes(encM, "k"));

            // noble encapsulates to our key; we decapsulate (also via a key imported from noble's dk).
            Assert.Equal(Bytes(encRandom, "k"), key.Decapsulate(Bytes(encRandom, "c")));
            using ManagedMLKem fromNobleDk = ManagedMLKem.ImportDecapsulationKey(alg, Bytes(keygen, "dk"));
            Assert.Equal(Bytes(encRandom, "k"), fromNobleDk.Decapsulate(Bytes(encRandom, "c")));

            // We encapsulate; noble decapsulates, including the implicit-rejection secret for a tampered copy.
            Assert.Equal(ourSecrets[i], Bytes(dec, "k"));
            byte[] tampered = ourCiphertexts[i][ct..];
            Assert.Equal(key.Decapsulate(tampered), Bytes(decTampered, "k"));
            Assert.NotEqual(ourSecrets[i], Bytes(decTampered, "k"));
        }
    }
}
