namespace P2PStack.Benchmarks.Stack;

/// <summary>
/// <c>P2PStack.Benchmarks stack &lt;command&gt; [--name value ...]</c>: connection-stack benchmarks with real peers
/// over 127.0.0.1. <c>all</c> runs every measurement (each in its own process) and prints markdown tables; the
/// other commands are its building blocks and print one JSON line.
/// </summary>
public static class StackCommand
{
    private static readonly Dictionary<string, Func<StackArgs, Task<int>>> Commands = new(StringComparer.Ordinal)
    {
        ["all"] = StackSuite.RunAsync,
        ["serve"] = ThroughputCommands.ServeAsync,
        ["perf"] = ThroughputCommands.PerfAsync,
        ["raw-serve"] = ThroughputCommands.RawServeAsync,
        ["raw-perf"] = ThroughputCommands.RawPerfAsync,
        ["connect"] = ConnectCommands.ConnectAsync,
        ["handshake"] = ConnectCommands.HandshakeAsync,
        ["memory"] = MemoryCommand.RunAsync,
        ["yamux-alone"] = YamuxAloneCommand.RunAsync,
        ["node-all"] = NodeSuite.RunAsync,
    };

    public static int Run(string[] args)
    {
        if (args.Length == 0 || !Commands.TryGetValue(args[0], out var command))
        {
            Console.Error.WriteLine($"usage: stack {string.Join('|', Commands.Keys)} [--name value ...]");
            return 2;
        }
        try
        {
            return command(new StackArgs(args[1..])).GetAwaiter().GetResult();
        }
        catch (Exception ex)
        {
            Console.Error.WriteLine($"stack {args[0]} failed: {ex}");
            return 1;
        }
    }
}
