using System.Globalization;
using System.Security.Cryptography;
using P2PStack.Privacy.Onion.Crypto;
using P2PStack.Privacy.Onion.Wire;

namespace P2PStack.Benchmarks.Onion;

/// <summary>
/// <c>onion-cells --cells N --op relay|client|aesgcm</c>: N cell transforms of the 513-byte body of a 514-byte cell and
/// nothing else, for instruction counts (<c>perf stat -e instructions:u</c>, run with N and with 0 and subtract: the
/// difference divided by N is the cost of one cell, unaffected by other load on the machine, unlike a time). relay: one
/// relay's layer; client: the client's three layers for the exit of a 3-hop circuit, two cells at a time as the client
/// sends DATA (client-single: one cell at a time, as its other cells); aesgcm: the anchor, AES-256-GCM
/// (OpenSSL) sealing the same 513 bytes. Run with <c>DOTNET_TieredCompilation=0</c> so that every run executes the
/// same fully optimised code.
/// </summary>
public static class CellCount
{
    public static int Run(string[] args)
    {
        int cells = Arg(args, "--cells", 1_000_000);
        int i = Array.IndexOf(args, "--op");
        string op = i >= 0 && i + 1 < args.Length ? args[i + 1] : "relay";
        var layout = new CellLayout(514);
        var body = new byte[layout.BodySize];
        var random = new Random(20);
        random.NextBytes(body);
        var second = new byte[layout.BodySize];
        random.NextBytes(second);
        LayerCipher Layer(bool decrypting)
        {
            var keys = new byte[LayerCipher.KeyMaterialSize];
            random.NextBytes(keys);
            return new LayerCipher(keys, decrypting);
        }
        using var relay = Layer(decrypting: false);
        LayerCipher[] client = [Layer(true), Layer(true), Layer(true)];
        var key = new byte[32];
        random.NextBytes(key);
        using var aead = new AesGcm(key, 16);
        var sealedBody = new byte[body.Length];
        var tag = new byte[16];
        var nonce = new byte[12];
        bool any = false;
        for (int n = 0; n < cells; n++)
        {
            switch (op)
            {
                case "relay":
                    any |= relay.Encrypt(body);
                    break;
                case "client":
                    // As the client sends DATA: two cells at a time through each layer (ClientCircuit.WriteDataCells).
                    for (int hop = 2; hop >= 0; hop--) client[hop].Decrypt(body, second);
                    n++;
                    break;
                case "client-single":
                    for (int hop = 2; hop >= 0; hop--) any |= client[hop].Decrypt(body);
                    break;
                case "aesgcm":
                    aead.Encrypt(nonce, body, sealedBody, tag);
                    break;
                default:
                    throw new ArgumentException($"unknown --op {op}");
            }
        }
        foreach (var layer in client) layer.Dispose();
        Console.WriteLine($"{op}: {cells} cells{(any ? " (one recognised)" : "")}");
        return 0;
    }

    private static int Arg(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    }
}
