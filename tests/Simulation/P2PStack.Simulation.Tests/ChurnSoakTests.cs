using Microsoft.Extensions.DependencyInjection;
using P2PStack.Transports.Memory;
using P2PStack.Transports.Tcp;
using Xunit.Abstractions;

namespace P2PStack.Simulation.Tests;

/// <summary>
/// The soak and churn test of issue 18: 1,000 connections from new peers opened and closed against one node in waves,
/// with ping streams and gossipsub traffic, over the memory transport and over real TCP. What the process holds
/// after the run is compared with what it held after the warm-up wave; the figures are printed (docs/benchmarks.md).
/// </summary>
[Collection(ChurnSoakCollection.Name)]
public sealed class ChurnSoakTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_thousand_connections_in_waves_over_the_memory_transport_leave_nothing_behind()
    {
        var network = new MemoryNetwork();
        var result = await ChurnSoak.RunAsync(new ChurnSoakOptions
        {
            ListenAddress = "/memory/0",
            Transport = (services, p2p) =>
            {
                services.AddSingleton(network);
                p2p.AddMemoryTransport();
            },
            // Below the wave size, so that the connection limit refuses some in every wave.
            Node = o => o.Limits.MaxConnections = 40,
        }, CancellationToken.None);
        output.WriteLine(result.ToString());
        AssertNothingLeft(result);
        // By design: every wave holds its 50 dials open together against a limit of 40, so each wave has at least 10
        // refused (20 waves: at least 200), all of them by the system connection limit, none by another scope (a scope
        // leaked by an earlier connection, or a wrong count, would name its own scope and limit).
        long limited = result.NodeRefusals.GetValueOrDefault("resource_limit");
        Assert.True(limited >= 20 * (50 - 40), $"the connection limit refused {limited}, fewer than the 200 over it");
        Assert.NotNull(result.NodeRefusalReasons);
        var byConnectionLimit = result.NodeRefusalReasons.Where(r => r.Key.Contains("system connections 40/40", StringComparison.Ordinal));
        Assert.Equal(limited, byConnectionLimit.Sum(r => r.Value));
        Assert.True(result.Peak.Connections <= 40, $"the node held {result.Peak.Connections} connections, over its limit of 40");
    }

    [Fact]
    public async Task A_thousand_connections_in_waves_over_tcp_leave_nothing_behind()
    {
        var result = await ChurnSoak.RunAsync(new ChurnSoakOptions
        {
            ListenAddress = "/ip4/127.0.0.1/tcp/0",
            Transport = (_, p2p) => p2p.AddTcpTransport(),
            // Every client dials from 127.0.0.1: the per-IP handshake limit (8 by default) would refuse most of a wave.
            Node = o => o.Limits.MaxPendingInboundPerIp = 64,
        }, CancellationToken.None);
        output.WriteLine(result.ToString());
        AssertNothingLeft(result);
        Assert.Equal(result.Attempted, result.Opened);
        // The peak snapshot is taken when the last client of a wave has dialled; the node registers a connection after
        // its own end of the handshake, which may come a moment later (under load none of the wave may be registered
        // yet: seen in CI), while its resource manager counts each from the accept: one of the two saw the wave.
        Assert.InRange(result.Peak.Connections, 0, 50);
        Assert.InRange(Math.Max(result.Peak.Connections, result.Peak.Reserved.Connections), 1, 50);
    }

    [Fact]
    public async Task Over_tcp_with_the_default_limits_one_address_is_held_to_the_per_ip_handshake_limit_with_typed_refusals()
    {
        var result = await ChurnSoak.RunAsync(new ChurnSoakOptions
        {
            ListenAddress = "/ip4/127.0.0.1/tcp/0",
            Transport = (_, p2p) => p2p.AddTcpTransport(),
            Waves = 4,
        }, CancellationToken.None);
        output.WriteLine(result.ToString());
        Assert.True(result.UntypedErrors == 0, string.Join("\n", result.UntypedSamples));
        Assert.True(result.NodeRefusals.GetValueOrDefault("pending_limit") > 0, "the per-IP handshake limit refused none");
        Assert.Equal(0, result.After.Connections);
    }

    private static void AssertNothingLeft(ChurnSoakResult result)
    {
        Assert.Equal(1000, result.Attempted);
        Assert.DoesNotContain("other", result.NodeRefusals.Keys);
        Assert.Equal(result.Attempted, result.Opened + result.Refused);
        Assert.True(result.Opened > 0);
        Assert.True(result.Pings > 0);
        Assert.True(result.MessagesDelivered > 0);
        Assert.True(result.UntypedErrors == 0, string.Join("\n", result.UntypedSamples));
        Assert.Equal(0, result.After.Connections);
        // The resource manager counts nothing once every peer has left: no connection, stream or window leaked.
        Assert.True(result.After.Reserved.IsZero, $"the resource manager still counts {result.After.Reserved}");
        // Growth bounds, generous on purpose: leaks over 1,000 connections would be far larger (one leaked socket,
        // timer or session per connection is hundreds).
        Assert.True(result.After.Handles <= result.Before.Handles + 32, $"handles {result.Before.Handles} -> {result.After.Handles}");
        Assert.True(result.After.Timers <= result.Before.Timers + 64, $"timers {result.Before.Timers} -> {result.After.Timers}");
        // The node's own tasks (accept loop, connection runs, stream handlers, module work) are back to the baseline:
        // the soak itself waited for that before its last snapshot, which a periodic module task starting just then may
        // still catch, hence the small allowance (a leak over 1,000 connections would be hundreds).
        Assert.True(result.After.HostTasks <= result.Before.HostTasks + 4, $"node tasks {result.Before.HostTasks} -> {result.After.HostTasks}");
        Assert.True(result.After.PendingWorkItems <= result.Before.PendingWorkItems + 64,
            $"queued thread-pool work {result.Before.PendingWorkItems} -> {result.After.PendingWorkItems}");
        Assert.True(result.After.ManagedBytes <= result.Before.ManagedBytes * 2 + 32L * 1024 * 1024,
            $"managed heap {result.Before.ManagedMiB:F1} -> {result.After.ManagedMiB:F1} MiB");
    }
}

/// <summary>The soak measures the whole process: nothing else may run beside it.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ChurnSoakCollection
{
    public const string Name = "churn soak";
}
