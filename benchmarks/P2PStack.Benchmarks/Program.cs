using BenchmarkDotNet.Running;

namespace P2PStack.Benchmarks;

/// <summary>
/// Entry point. All BenchmarkDotNet command-line options work (e.g. <c>--filter *MLKem*</c>, <c>--list flat</c>);
/// <c>--quick</c> selects the short job (see <see cref="BenchmarkConfig"/>). <c>sim ...</c> runs the network simulations
/// instead (see <see cref="Simulation.SimulationCommand"/>).
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "sim") return Simulation.SimulationCommand.RunAsync(args[1..]).GetAwaiter().GetResult();
        // "stack ...": the connection-stack benchmarks (Stack/StackCommand.cs), which run real peers, not BenchmarkDotNet.
        if (args.Length > 0 && args[0] == "stack") return Stack.StackCommand.Run(args[1..]);
        if (args.Length > 0 && args[0] == "neural") return Neural.NeuralCommand.Run(args[1..]);
        // "registry ...": the registry service under 1,000 in-process nodes (Registry/RegistryLoadCommand.cs).
        if (args.Length > 0 && args[0] == "registry") return Registry.RegistryLoadCommand.Run(args[1..]);
        if (args.Length > 0 && args[0] == "mlkem-time") return Crypto.MLKemTime.Run(args[1..]);
        // "padding ...": cost of the traffic padding filter against the same connection without it (Padding/PaddingCommand.cs).
        if (args.Length > 0 && args[0] == "padding") return Padding.PaddingCommand.Run(args[1..]);
        if (args.Length > 0 && args[0] == "curve25519-count") return Crypto.Curve25519Count.Run(args[1..]);
        if (args.Length > 0 && args[0] == "curve25519-time") return Crypto.Curve25519Time.Run(args[1..]);
        if (args.Length > 0 && args[0] == "dag") return Dag.DagCommand.Run(args[1..]);
        // "onion-loopback ...": a 3-hop circuit on 127.0.0.1 against a direct connection (Onion/OnionLoopback.cs).
        if (args.Length > 0 && args[0] == "onion-loopback") return Onion.OnionLoopback.Run(args[1..]);
        if (args.Length > 0 && args[0] == "onion-relay-node") return Onion.OnionLoopback.RunRelayNode(args[1..]);
        // "tor-loopback ...": the same measures on Debian's tor as a private network on 127.0.0.1 (Onion/TorLoopback.cs).
        if (args.Length > 0 && args[0] == "tor-loopback") return Onion.TorLoopback.Run(args[1..]);
        // "onion-cells ...": N cell transforms for instruction counts with perf stat (Onion/CellCount.cs).
        if (args.Length > 0 && args[0] == "onion-cells") return Onion.CellCount.Run(args[1..]);
        // "onion-layer-speed ...": the layer transform and its parts by the fastest of many repetitions (Onion/LayerSpeed.cs).
        if (args.Length > 0 && args[0] == "onion-layer-speed") return Onion.LayerSpeed.Run(args[1..]);
        bool quick = args.Contains("--quick");
        string[] rest = args.Where(a => a != "--quick").ToArray();
        if (rest.Length == 0) rest = ["--filter", "*"];
        var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(rest, BenchmarkConfig.Create(quick));
        return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
    }
}
