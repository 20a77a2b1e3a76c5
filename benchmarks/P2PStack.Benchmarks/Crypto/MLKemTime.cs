using System.Diagnostics;
using System.Security.Cryptography;
using P2PStack.Crypto.MLKem;

namespace P2PStack.Benchmarks.Crypto;

/// <summary>
/// <c>mlkem-time [--set ML-KEM-768] [--batches 300]</c>: a quick profile of one ML-KEM parameter set on the AVX2
/// path, for optimisation work on a loaded machine. Each operation runs in batches of calls; the minimum batch
/// (per call) is the figure least disturbed by other processes. Besides the public operations it times the
/// internal steps (Keccak, matrix expansion, noise sampling, NTT), so a change can be judged step by step.
/// BenchmarkDotNet (<c>--filter *MLKemBenchmarks*</c>) stays the reference for reported figures.
/// </summary>
internal static class MLKemTime
{
    public static int Run(string[] args)
    {
        string set = "ML-KEM-768";
        int batches = 300;
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            if (args[i] == "--set") set = args[i + 1];
            else if (args[i] == "--batches") batches = int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture);
            else throw new ArgumentException($"unknown option {args[i]}");
        }
        MLKemAlgorithm algorithm = set switch
        {
            "ML-KEM-512" => MLKemAlgorithm.MLKem512,
            "ML-KEM-768" => MLKemAlgorithm.MLKem768,
            _ => MLKemAlgorithm.MLKem1024,
        };
        var seed = new byte[64];
        var message = new byte[32];
        for (int i = 0; i < 64; i++) seed[i] = (byte)(0x11 + i);
        for (int i = 0; i < 32; i++) message[i] = (byte)(0x22 + i);
        using var key = ManagedMLKem.ImportPrivateSeed(algorithm, seed);
        byte[] ek = key.ExportEncapsulationKey(), dk = key.ExportDecapsulationKey();
        var ct = new byte[algorithm.CiphertextSizeInBytes];
        var ctOut = new byte[algorithm.CiphertextSizeInBytes];
        var ss = new byte[32];
        key.Encapsulate(message, ct, ss);

        var ops = new (string Name, Action Op)[]
        {
            ("GenerateKey (fresh randomness)", () => ManagedMLKem.GenerateKey(algorithm).Dispose()),
            ("ImportPrivateSeed", () => ManagedMLKem.ImportPrivateSeed(algorithm, seed).Dispose()),
            ("Encapsulate (imported key, fixed m)", () => key.Encapsulate(message, ctOut, ss)),
            ("Encapsulate (imported key, fresh m)", () => key.Encapsulate(ctOut, ss)),
            ("ImportEncapsulationKey + Encapsulate", () => { using var k = ManagedMLKem.ImportEncapsulationKey(algorithm, ek); k.Encapsulate(ctOut, ss); }),
            ("Decapsulate (imported key)", () => key.Decapsulate(ct, ss)),
            ("ImportDecapsulationKey + Decapsulate", () => { using var k = ManagedMLKem.ImportDecapsulationKey(algorithm, dk); k.Decapsulate(ct, ss); }),
            ("RandomNumberGenerator.Fill(64 bytes)", () => RandomNumberGenerator.Fill(seed)),
        };
        Console.WriteLine($"{set}, AVX2 {SimdSwitch.UseAvx2}, min (median) us per call over {batches} batches; load {File.ReadAllText("/proc/loadavg").Trim()}");
        foreach (var (name, op) in ops.Concat(Steps(algorithm, ek, ct)))
        {
            var (min, median) = Measure(op, batches);
            Console.WriteLine($"  {name,-42} {min,8:0.00} ({median:0.00})");
        }
        return 0;
    }

    /// <summary>The internal steps the operations are made of.</summary>
    private static IEnumerable<(string Name, Action Op)> Steps(MLKemAlgorithm algorithm, byte[] ek, byte[] ct)
    {
        var p = MLKemParameters.For(algorithm);
        int k = p.K;
        var rho = ek.AsSpan(p.PolyVecBytes, 32).ToArray();
        var matrix = new short[k * k * Poly.N];
        var noise = new short[4 * Poly.N];
        var poly = new short[Poly.N];
        var lanes = new ulong[25];
        var lanes4 = new System.Runtime.Intrinsics.Vector256<ulong>[25];
        var hash = new byte[32];
        var kr = new byte[64];
        var buffer = new byte[504];
        for (int i = 0; i < buffer.Length; i++) buffer[i] = (byte)(i * 7);
        yield return ("  Keccak-f1600 (scalar)", () => KeccakF1600.Permute(lanes));
        yield return ("  Keccak-f1600 x4 (AVX2)", () => KeccakF1600x4.Permute(lanes4));
        yield return ("  H(ek)", () => Hashing.H(ek, hash));
        yield return ("  J(z || c)", () => Hashing.J(rho, ct, hash));
        yield return ("  G(64 bytes)", () => Hashing.G(rho, hash, kr));
        yield return ("  ExpandMatrix", () => Sampling.ExpandMatrix(rho, k, matrix));
        yield return ("  NoiseVector eta1, 4 polys", () => Sampling.NoiseVector(rho, 0, p.Eta1, 4, noise));
        yield return ("  RejectSample 504 bytes", () => Sampling.RejectSample(poly, 0, buffer));
        yield return ("  NTT", () => Poly.Ntt(poly));
        yield return ("  InverseNTT", () => Poly.InverseNttToMont(poly));
        yield return ("  TryExpandEncapsulationKey", () => MLKemCore.TryExpandEncapsulationKey(p, ek, noise.AsSpan(0, k * Poly.N), matrix));
    }

    internal static (double Min, double Median) Measure(Action op, int batches)
    {
        // Warm up for a time, not a count: tiered JIT promotes a method only after a ~100 ms call-counting delay, so
        // 500 calls (~8 ms) left the first operation measured (GenerateKey) partly on tier-0 code (median 25-55 us
        // against a 16 us minimum on 2026-12-07).
        long warmUpStart = Stopwatch.GetTimestamp();
        for (int i = 0; i < 500 || Stopwatch.GetElapsedTime(warmUpStart).TotalMilliseconds < 500; i++) op();
        // Batches of about 1 ms.
        int perBatch = 1;
        while (true)
        {
            long t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < perBatch; i++) op();
            if (Stopwatch.GetElapsedTime(t0).TotalMilliseconds >= 1 || perBatch >= 1 << 20) break;
            perBatch *= 2;
        }
        var samples = new double[batches];
        for (int b = 0; b < batches; b++)
        {
            long start = Stopwatch.GetTimestamp();
            for (int i = 0; i < perBatch; i++) op();
            samples[b] = Stopwatch.GetElapsedTime(start).TotalMicroseconds / perBatch;
        }
        Array.Sort(samples);
        return (samples[0], samples[batches / 2]);
    }
}
