using System.Buffers;
using System.IO.Pipelines;
using P2PStack.Addressing;
using P2PStack.Conformance.Transport;
using P2PStack.Network;
using P2PStack.Transports.Memory;
using P2PStack.Testing;

namespace P2PStack.Simulation.Tests;

/// <summary>The transport conformance suite over links with latency, jitter and retransmission delays.</summary>
public class DelayedMemoryConformanceTests : TransportConformanceTests
{
    private readonly MemoryNetwork _network = new(7)
    {
        DefaultLinkConditions = new MemoryLinkConditions
        {
            Latency = TimeSpan.FromMilliseconds(2),
            Jitter = TimeSpan.FromMilliseconds(3),
            LossRate = 0.05,
            RetransmissionTimeout = TimeSpan.FromMilliseconds(5),
        },
    };

    protected override ITransport CreateTransport() => new MemoryTransport(_network);

    protected override Multiaddr ListenAddress => Multiaddr.Parse("/memory/0");

    protected override void AssertConcrete(Multiaddr boundAddress) =>
        Assert.NotEqual("0", boundAddress.ValueOf(MultiaddrProtocols.Memory));
}

public class LinkConditionsTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static async Task<(IRawConnection Dialer, IRawConnection Listener, IListener Socket)> ConnectAsync(MemoryNetwork network,
        MemoryTransportOptions? options = null)
    {
        var transport = new MemoryTransport(network, options);
        var listener = await transport.ListenAsync(Multiaddr.Parse("/memory/0"), default);
        var dialer = await transport.DialAsync(listener.ListenAddress, default);
        var accepted = await listener.AcceptAsync(default).AsTask().WaitAsync(Patience);
        return (dialer, accepted, listener);
    }

    private static async Task<byte[]> ReadExactlyAsync(PipeReader reader, int count)
    {
        var received = new List<byte>();
        while (received.Count < count)
        {
            var result = await reader.ReadAsync().AsTask().WaitAsync(Patience);
            received.AddRange(BuffersExtensions.ToArray(result.Buffer));
            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted) break;
        }
        return [.. received];
    }

    [Fact]
    public async Task Latency_delays_delivery_but_not_the_writer()
    {
        // Simulated time stands still unless the test moves it, so neither claim depends on the machine's speed.
        var clock = new ManualClock();
        var network = new MemoryNetwork(1)
        {
            DefaultLinkConditions = new MemoryLinkConditions { Latency = TimeSpan.FromMilliseconds(300) },
            TimeProvider = clock,
        };
        var (dialer, listener, socket) = await ConnectAsync(network);
        await using var _ = socket;

        // The flush completes with the clock stopped: the writer does not wait out the latency.
        await dialer.Output.WriteAsync(new byte[] { 1, 2, 3 }).AsTask().WaitAsync(Patience);
        var received = ReadExactlyAsync(listener.Input, 3);

        // The bytes do: they are handed over when their due time comes, not a tick before.
        var deadline = DateTime.UtcNow + Patience;
        while (clock.PendingTimers == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the bytes were never scheduled for delivery");
            await Task.Delay(5);
        }
        clock.Advance(TimeSpan.FromMilliseconds(299));
        Assert.Equal(1, clock.PendingTimers); // the delivery is still due
        Assert.False(received.IsCompleted, "the bytes arrived before the latency had passed");
        clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal([1, 2, 3], await received.WaitAsync(Patience));
    }

    [Fact]
    public async Task Jitter_and_loss_keep_bytes_in_order_and_half_close_after_them()
    {
        var network = new MemoryNetwork(3)
        {
            DefaultLinkConditions = new MemoryLinkConditions
            {
                Jitter = TimeSpan.FromMilliseconds(5),
                LossRate = 0.3,
                RetransmissionTimeout = TimeSpan.FromMilliseconds(3),
                BandwidthBytesPerSecond = 10_000_000,
            },
        };
        var (dialer, listener, socket) = await ConnectAsync(network, new MemoryTransportOptions { MaxBufferedBytes = 4096 });
        await using var _ = socket;
        var data = new byte[200_000];
        new Random(5).NextBytes(data);
        var writing = Task.Run(async () =>
        {
            for (int offset = 0; offset < data.Length; offset += 1000) await dialer.Output.WriteAsync(data.AsMemory(offset, 1000));
            await dialer.Output.CompleteAsync();
        });
        var received = await ReadExactlyAsync(listener.Input, data.Length + 1);
        await writing.WaitAsync(Patience);
        Assert.Equal(data, received);
    }

    [Fact]
    public async Task Dial_failures_follow_the_rate_and_the_seed()
    {
        static async Task<int> RefusedOutOf(int dials, int seed)
        {
            var network = new MemoryNetwork(seed) { DefaultLinkConditions = new MemoryLinkConditions { DialFailureRate = 0.5 } };
            var transport = new MemoryTransport(network);
            await using var listener = await transport.ListenAsync(Multiaddr.Parse("/memory/0"), default);
            int refused = 0;
            for (int i = 0; i < dials; i++)
            {
                try
                {
                    var connection = await transport.DialAsync(listener.ListenAddress, default);
                    await (await listener.AcceptAsync(default)).DisposeAsync();
                    await connection.DisposeAsync();
                }
                catch (IOException)
                {
                    refused++;
                }
            }
            return refused;
        }
        int first = await RefusedOutOf(200, 11);
        Assert.InRange(first, 70, 130);
        Assert.Equal(first, await RefusedOutOf(200, 11));
    }

    [Fact]
    public async Task Reset_rate_one_resets_every_connection_within_the_window()
    {
        var network = new MemoryNetwork(2)
        {
            DefaultLinkConditions = new MemoryLinkConditions { ResetRate = 1, ResetWindow = TimeSpan.FromMilliseconds(50) },
        };
        var (dialer, listener, socket) = await ConnectAsync(network);
        await using var _ = socket;
        var error = await Assert.ThrowsAsync<IOException>(async () =>
        {
            while (true)
            {
                var result = await listener.Input.ReadAsync().AsTask().WaitAsync(Patience);
                listener.Input.AdvanceTo(result.Buffer.End);
            }
        });
        Assert.Contains("reset by the network", error.Message);
        await Assert.ThrowsAsync<IOException>(async () => await dialer.Output.WriteAsync(new byte[] { 1 }));
    }

    [Fact]
    public async Task Per_link_conditions_override_the_default()
    {
        var network = new MemoryNetwork(4) { DefaultLinkConditions = new MemoryLinkConditions { DialFailureRate = 1 } };
        var transport = new MemoryTransport(network);
        await using var listener = await transport.ListenAsync(Multiaddr.Parse("/memory/0"), default);
        await Assert.ThrowsAsync<IOException>(() => transport.DialAsync(listener.ListenAddress, default).AsTask());
        network.LinkConditions = (_, _) => MemoryLinkConditions.Perfect;
        await using var connection = await transport.DialAsync(listener.ListenAddress, default);
    }
}
