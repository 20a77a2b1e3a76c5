using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using P2PStack.Privacy.Onion.Crypto;
using P2PStack.Privacy.Onion.Wire;

namespace P2PStack.Benchmarks.Onion;

/// <summary>
/// <c>onion-layer-speed [--seconds 20] [--calls 2000]</c>: the onion layer transform and its parts, timed by the
/// fastest of many short repetitions, for a machine too loaded for BenchmarkDotNet's means: a repetition (a few
/// hundred microseconds) that ran without being preempted shows the code's own speed, and the operations take turns
/// repetition by repetition, so all of them see the same minutes of load. Reports per call the minimum and the median
/// in ns and the minimum's MiB/s (bytes of the operation's input per second), for: the relay's layer (Encrypt) and one
/// client layer (Decrypt) on the 513-byte body of a 514-byte cell, the counter-mode keystream over the body's 497-byte
/// rest and over 512 and 16,384 bytes (beside <c>openssl speed -evp aes-256-ctr -bytes 512|16384</c>), POLYVAL's
/// cell hash of the 497 bytes, one AES-256 block each way, and AES-256-GCM (.NET on OpenSSL) sealing the body.
/// </summary>
public static class LayerSpeed
{
    private sealed record Op(string Name, int Bytes, Action Run);

    public static int Run(string[] args)
    {
        double seconds = Arg(args, "--seconds", 20);
        int calls = (int)Arg(args, "--calls", 2000);
        var layout = new CellLayout(514);
        var random = new Random(20);
        var body = new byte[layout.BodySize];
        random.NextBytes(body);
        byte[] Bytes(int n)
        {
            var b = new byte[n];
            random.NextBytes(b);
            return b;
        }
        using var relay = new LayerCipher(Bytes(LayerCipher.KeyMaterialSize), decrypting: false);
        using var client = new LayerCipher(Bytes(LayerCipher.KeyMaterialSize), decrypting: true);
        using var aes = new Aes256(Bytes(Aes256.KeySize), decryption: true);
        var polyval = new Polyval(Bytes(Polyval.KeySize));
        var iv = Bytes(16);
        var rest = Bytes(layout.BodySize - LayerCipher.TagSize);
        var small = Bytes(512);
        var large = Bytes(16384);
        var block = Bytes(16);
        using var gcm = new AesGcm(Bytes(32), 16);
        var sealedBody = new byte[body.Length];
        var tag = new byte[16];
        var nonce = new byte[12];
        ulong tweak = 0;
        Op[] ops =
        [
            new("relay layer: LayerCipher.Encrypt, 513-byte body", body.Length, () => relay.Encrypt(body)),
            new("client layer: LayerCipher.Decrypt, 513-byte body", body.Length, () => client.Decrypt(body)),
            new("AES-256-CTR keystream (Aes256.XorKeystream), 497 bytes", rest.Length, () => aes.XorKeystream(iv, rest)),
            new("POLYVAL cell hash (Polyval.Hash), 497 bytes", rest.Length, () => polyval.Hash(rest, tweak++)),
            new("AES-256 one block, encrypt", 16, () => aes.EncryptBlock(block, block)),
            new("AES-256 one block, decrypt", 16, () => aes.DecryptBlock(block, block)),
            new("AES-256-CTR keystream, 512 bytes", small.Length, () => aes.XorKeystream(iv, small)),
            new("AES-256-CTR keystream, 16384 bytes", large.Length, () => aes.XorKeystream(iv, large)),
            new("AES-256-GCM seal (.NET, OpenSSL), 513 bytes", body.Length, () => gcm.Encrypt(nonce, body, sealedBody, tag)),
        ];
        var samples = ops.Select(_ => new List<double>()).ToArray();
        // Warm-up: every operation through tiering to its final code.
        for (int w = 0; w < 3; w++)
            foreach (var op in ops)
                for (int i = 0; i < 20_000; i++) op.Run();
        var total = Stopwatch.StartNew();
        while (total.Elapsed.TotalSeconds < seconds)
        {
            for (int o = 0; o < ops.Length; o++)
            {
                var run = ops[o].Run;
                // The 16 KiB keystream is 32 times the bytes per call: fewer calls keep its repetitions as short.
                int n = ops[o].Bytes > 4096 ? Math.Max(1, calls / 16) : calls;
                long start = Stopwatch.GetTimestamp();
                for (int i = 0; i < n; i++) run();
                samples[o].Add((Stopwatch.GetTimestamp() - start) * 1e9 / Stopwatch.Frequency / n);
            }
        }
        Console.WriteLine($"repetitions per operation: {samples[0].Count} ({calls} calls each; 16 KiB: {Math.Max(1, calls / 16)})");
        Console.WriteLine("| operation | ns per call, min | ns per call, median | MiB/s at the min |");
        Console.WriteLine("|---|---:|---:|---:|");
        for (int o = 0; o < ops.Length; o++)
        {
            var sorted = samples[o].Order().ToArray();
            double min = sorted[0];
            double median = sorted[sorted.Length / 2];
            double mibs = ops[o].Bytes / (min * 1e-9) / (1 << 20);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"| {ops[o].Name} | {min:F1} | {median:F1} | {mibs:F0} |"));
        }
        return 0;
    }

    private static double Arg(string[] args, string name, double fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? double.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    }
}
