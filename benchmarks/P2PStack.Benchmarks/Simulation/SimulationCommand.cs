using System.Diagnostics;
using P2PStack.Simulation;
using P2PStack.Transports.Memory;

namespace P2PStack.Benchmarks.Simulation;

/// <summary>
/// <c>sim</c> subcommand: runs the full-size simulation scenarios and prints their figures (see docs/benchmarks.md).
/// <c>sim dht [--nodes 1000] [--lookups 500] [--seed 1]</c>, <c>sim gossip [--nodes 200] [--seed 1]</c>,
/// <c>sim churn</c>, <c>sim attack</c>, <c>sim all</c>.
/// </summary>
public static class SimulationCommand
{
    public static async Task<int> RunAsync(string[] args)
    {
        string scenario = args.Length > 0 ? args[0] : "all";
        int seed = Option(args, "--seed", 1);
        var scenarios = scenario == "all" ? ["dht", "gossip", "churn", "attack", "attack-noscore"] : new[] { scenario };
        Console.WriteLine($"# simulation, {Environment.ProcessorCount} cores, .NET {Environment.Version}, load {LoadAverage()}");
        foreach (var name in scenarios)
        {
            long started = Stopwatch.GetTimestamp();
            string result = name switch
            {
                "dht" or "dht-hosts" => (await DhtScenario.RunAsync(new DhtScenarioOptions
                {
                    Stack = name == "dht" ? DhtStack.InProcess : DhtStack.Hosts,
                    NodeCount = Option(args, "--nodes", 1000),
                    Lookups = Option(args, "--lookups", 500),
                    BootstrapPeers = 3,
                    RefreshRounds = 1,
                }, new SimulationOptions
                {
                    Seed = seed,
                    Concurrency = Option(args, "--concurrency", 16),
                    Links = new MemoryLinkConditions { Latency = TimeSpan.FromMilliseconds(Option(args, "--latency-ms", 0)) },
                }, CancellationToken.None)).ToString(),
                "gossip" or "churn" or "attack" or "attack-noscore" => (await GossipScenario.RunAsync(WithScoring(name, new GossipScenarioOptions
                {
                    NodeCount = Option(args, "--nodes", 200),
                    Degree = 6,
                    Messages = Option(args, "--messages", 100),
                    Publishers = 10,
                    PublishInterval = TimeSpan.FromMilliseconds(Option(args, "--interval-ms", 100)),
                    PayloadBytes = 256,
                    WarmUp = TimeSpan.FromSeconds(Option(args, "--warmup-s", 10)),
                    DeliveryWindow = TimeSpan.FromSeconds(Option(args, "--window-s", 5)),
                    ChurnFraction = name == "churn" ? 0.2 : 0,
                    MinDowntime = TimeSpan.FromMilliseconds(500),
                    MaxDowntime = TimeSpan.FromSeconds(3),
                    AttackerFraction = name.StartsWith("attack", StringComparison.Ordinal) ? Option(args, "--attackers-percent", 30) / 100.0 : 0,
                }), new SimulationOptions
                {
                    Seed = seed,
                    Concurrency = Option(args, "--concurrency", 16),
                    Links = new MemoryLinkConditions
                    {
                        Latency = TimeSpan.FromMilliseconds(Option(args, "--latency-ms", 25)),
                        Jitter = TimeSpan.FromMilliseconds(Option(args, "--jitter-ms", 0)),
                    },
                }, CancellationToken.None)).ToString(),
                "onion" => await OnionScenario.RunAsync(Option(args, "--relays", 50), Option(args, "--circuits", 200), Option(args, "--clients", 10),
                    TimeSpan.FromMilliseconds(Option(args, "--latency-ms", 25)), Option(args, "--concurrency", 8), Text(args, "--padding", "off")),
                "shadow" => await ShadowScenario.RunBothAsync(Option(args, "--relays", 20), Option(args, "--connections", 50), Option(args, "--clients", 4),
                    TimeSpan.FromMilliseconds(Option(args, "--latency-ms", 25)), Option(args, "--concurrency", 4),
                    Text(args, "--padding", "both"), Option(args, "--pool-size", 1)),
                _ => throw new ArgumentException($"unknown scenario '{name}' (dht, gossip, churn, attack, onion, shadow, all)"),
            };
            Console.WriteLine(result);
            Console.WriteLine($"  ({name}: {Stopwatch.GetElapsedTime(started).TotalSeconds:F0} s wall, load {LoadAverage()}, peak working set {Process.GetCurrentProcess().PeakWorkingSet64 / (1024 * 1024)} MiB)");
        }
        return 0;
    }

    /// <summary>The "attack" scenario scores deliveries in the topic (P3 activated after the warm-up and ten publishes).</summary>
    private static GossipScenarioOptions WithScoring(string name, GossipScenarioOptions scenario)
    {
        if (name == "attack") scenario.TopicScore = GossipScenarioOptions.DeliveryScoring(scenario.DeliveryScoringActivation);
        return scenario;
    }

    private static int Option(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], System.Globalization.CultureInfo.InvariantCulture) : fallback;
    }

    private static string Text(string[] args, string name, string fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
    }

    private static string LoadAverage()
    {
        try { return string.Join(" / ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "n/a"; }
    }
}
