namespace P2PStack.Benchmarks.Crypto;

/// <summary>
/// <c>curve25519-count OPERATION COUNT</c>: runs one operation of <see cref="Curve25519Benchmarks"/> COUNT times and
/// nothing else, so that an instruction counter (valgrind's callgrind, see benchmarks/run-curve25519.sh) can measure
/// it on a machine too loaded for wall-clock ratios: the difference between two counts, divided by the difference of
/// the counts, is the instructions of one operation (start-up and JIT cancel out).
/// </summary>
public static class Curve25519Count
{
    public static int Run(string[] args)
    {
        var benchmarks = new Curve25519Benchmarks();
        var operations = typeof(Curve25519Benchmarks).GetMethods()
            .Where(m => m.GetCustomAttributes(typeof(BenchmarkDotNet.Attributes.BenchmarkAttribute), false).Length > 0)
            .ToDictionary(m => m.Name, StringComparer.Ordinal);
        if (args.Length != 2 || !operations.TryGetValue(args[0], out var method) || !int.TryParse(args[1], out int count) || count < 0)
        {
            Console.Error.WriteLine("usage: curve25519-count OPERATION COUNT; operations: " + string.Join(", ", operations.Keys.Order()));
            return 2;
        }
        benchmarks.Setup();
        // Reflection adds well under a thousand instructions per call, against hundreds of thousands per operation.
        for (int i = 0; i < count; i++) method.Invoke(benchmarks, null);
        benchmarks.Cleanup();
        return 0;
    }
}
