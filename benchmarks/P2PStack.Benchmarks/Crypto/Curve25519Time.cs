using System.Globalization;
using BenchmarkDotNet.Attributes;
using P2PStack.Crypto.MLKem;
using P2PStack.Privacy.Onion.Crypto;
using P2PStack.Security.Noise;
using P2PStack.Security.Noise.Protocol;

namespace P2PStack.Benchmarks.Crypto;

/// <summary>
/// <c>curve25519-time [--batches 300] [--filter TEXT]</c>: every operation of <see cref="Curve25519Benchmarks"/>
/// timed in batches of about 1 ms after a 500 ms warm-up (as <c>mlkem-time</c>); the minimum batch per call is the
/// figure least disturbed by other processes on a loaded machine, the median is printed beside it. Then what the
/// stack does with them, with the implementation <see cref="X25519Key.Default"/> picks (run once with
/// <c>P2PSTACK_X25519=bouncycastle</c> and once without for an A/B): a whole Noise XX handshake, both sides in one
/// thread (classical and hybrid ML-KEM-768; static keys reused, empty payloads, so no Ed25519), and one onion hop's
/// CREATE/CREATED (client and relay).
/// </summary>
internal static class Curve25519Time
{
    public static int Run(string[] args)
    {
        int batches = 300;
        string filter = "";
        for (int i = 0; i + 1 < args.Length; i += 2)
        {
            if (args[i] == "--batches") batches = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            else if (args[i] == "--filter") filter = args[i + 1];
            else throw new ArgumentException($"unknown option {args[i]}");
        }

        var benchmarks = new Curve25519Benchmarks();
        benchmarks.Setup();
        try
        {
            Console.WriteLine($"min (median) us per call over {batches} batches; load {File.ReadAllText("/proc/loadavg").Trim()}");
            foreach (var method in typeof(Curve25519Benchmarks).GetMethods()
                         .Where(m => m.GetCustomAttributes(typeof(BenchmarkAttribute), false).Length > 0 && m.Name.Contains(filter, StringComparison.Ordinal)))
            {
                var (min, median) = MLKemTime.Measure(() => method.Invoke(benchmarks, null), batches);
                Console.WriteLine($"  {method.Name,-34} {min,8:0.00} ({median:0.00})");
            }
            Console.WriteLine($"X25519 implementation for the stack: {X25519Key.Default}");
            foreach (var (name, op) in StackOperations())
            {
                var (min, median) = MLKemTime.Measure(op, batches);
                Console.WriteLine($"  {name,-34} {min,8:0.00} ({median:0.00})");
            }
            Console.WriteLine($"load after {File.ReadAllText("/proc/loadavg").Trim()}");
        }
        finally
        {
            benchmarks.Cleanup();
        }
        return 0;
    }

    private static IEnumerable<(string Name, Action Op)> StackOperations()
    {
        var initiatorStatic = X25519KeyPair.Generate();
        var responderStatic = X25519KeyPair.Generate();
        yield return ("Noise XX handshake, both sides", () => Handshake(NoiseSuite.Classical.Protocol, initiatorStatic, responderStatic));
        yield return ("Noise XXhfs ML-KEM-768, both sides", () => Handshake(NoiseSuite.MLKem768.Protocol, initiatorStatic, responderStatic));
        var ring = new OnionKeyRing(TimeProvider.System, TimeSpan.FromHours(1), TimeSpan.FromMinutes(10));
        byte[] relayId = new byte[38];
        yield return ("onion hop CREATE/CREATED, both", () =>
        {
            using var client = new OnionHandshake.Client(relayId, ring.Current.PublicKey);
            var created = OnionHandshake.Respond(client.Create, ring, relayId, out var relayKeys);
            relayKeys.Dispose();
            client.Complete(created).Dispose();
        });
        // A hop's critical path in parts (docs/benchmarks.md, "Onion build"): what a client's CREATE costs with its keys
        // generated on the spot or ahead (the second includes the generation: subtract the line after it), and what a
        // relay's CREATED costs (it includes the X25519 key generation that the relay now does ahead: subtract that).
        var onionKey = ring.Current.PublicKey.ToArray();
        yield return ("onion client CREATE, keys on the spot", () => new OnionHandshake.Client(relayId, onionKey).Dispose());
        yield return ("onion client CREATE, keys ahead + gen", () =>
            new OnionHandshake.Client(relayId, OnionPublicKey.For(onionKey), OnionHandshake.ClientEphemeral.Generate()).Dispose());
        yield return ("onion client ephemeral key set gen", () => OnionHandshake.ClientEphemeral.Generate().Dispose());
        using var probe = new OnionHandshake.Client(relayId, onionKey);
        var create = probe.Create;
        yield return ("onion relay CREATED, key on the spot", () =>
        {
            OnionHandshake.Respond(create, ring, relayId, out var keys);
            keys.Dispose();
        });
        yield return ("X25519 key generation (relay ahead)", () => X25519Key.Generate().Dispose());
    }

    private static void Handshake(NoiseProtocol protocol, X25519KeyPair initiatorStatic, X25519KeyPair responderStatic)
    {
        using var initiator = new HandshakeState(protocol, true, default, initiatorStatic);
        using var responder = new HandshakeState(protocol, false, default, responderStatic);
        Span<byte> message = stackalloc byte[4096];
        while (!initiator.IsCompleted)
        {
            var (writer, reader) = initiator.IsMyTurnToWrite ? (initiator, responder) : (responder, initiator);
            int length = writer.WriteMessage(default, message);
            reader.ReadMessage(message[..length], default);
        }
        var (a, b) = initiator.Split();
        var (c, d) = responder.Split();
        a.Dispose(); b.Dispose(); c.Dispose(); d.Dispose();
    }
}
