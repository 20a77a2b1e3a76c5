using System.Globalization;
using BenchmarkDotNet.Attributes;

namespace P2PStack.Benchmarks.Crypto;

/// <summary>
/// <c>curve25519-time [--batches 300] [--filter TEXT]</c>: every operation of <see cref="Curve25519Benchmarks"/>
/// timed in batches of about 1 ms after a 500 ms warm-up (as <c>mlkem-time</c>); the minimum batch per call is the
/// figure least disturbed by other processes on a loaded machine, the median is printed beside it.
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
            Console.WriteLine($"load after {File.ReadAllText("/proc/loadavg").Trim()}");
        }
        finally
        {
            benchmarks.Cleanup();
        }
        return 0;
    }
}
