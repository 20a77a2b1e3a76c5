using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Options;
using P2PStack.Conformance.Security;

namespace P2PStack.Security.Noise.Tests;

/// <summary>A Noise connection disposed by one task while another writes to its output: no buffer (the writer's own,
/// or the raw connection's) goes back to its pool while the writer can still write into it, and the writer sees only
/// typed exceptions.</summary>
public sealed class NoiseTransportWriterRaceTests
{
    private const byte Payload = 0x5A;
    private const byte Poison = 0xDD;
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(1024)]
    [InlineData(100_000)] // more than one Noise message holds
    public async Task Dispose_between_GetMemory_and_Advance_leaves_the_buffer_to_the_writer(int size)
    {
        var pools = new Pools();
        var (client, server, rawClient) = await ConnectAsync(pools);
        await using var _ = server;

        var memory = client.Output.GetMemory(size); // the writer holds the memory...
        var dispose = client.DisposeAsync(); // ...when another task disposes the connection
        // What the dispose gave back to the shared pool, this thread's next rent of that size gets back.
        var rented = ArrayPool<byte>.Shared.Rent(size);
        bool aliased = MemoryMarshal.TryGetArray<byte>(memory, out var segment) && segment.Array == rented;
        ArrayPool<byte>.Shared.Return(rented);
        await dispose.AsTask().WaitAsync(Prompt);
        await server.DisposeAsync().AsTask().WaitAsync(Prompt); // both ends done: the raw pipe's buffers are back

        memory.Span[..size].Fill(Payload);
        Assert.False(aliased, "the memory handed out went back to ArrayPool<byte>.Shared during the dispose");
        Assert.Equal(0, pools.Raw.WrittenAfterReturn());
        Assert.Equal(0, pools.Writer.ReturnedCount);

        Assert.Throws<ObjectDisposedException>(() => client.Output.Advance(size));
        Assert.Equal(0, pools.Writer.Outstanding); // returned once the writer let go
        Assert.Equal(0, pools.Writer.WrittenAfterReturn());
        Assert.Empty(pools.Violations);
        Assert.True(rawClient.IsAborted, "a close during a write aborts: the bytes being written cannot go out");
        Assert.Throws<ObjectDisposedException>(() => client.Output.GetSpan(1));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await client.Output.FlushAsync());
    }

    [Fact]
    public async Task Dispose_during_writes_never_returns_a_buffer_the_writer_still_uses()
    {
        var pools = new Pools();
        var untyped = new ConcurrentQueue<Exception>();
        int poisonReceived = 0;
        for (int i = 0; i < 150; i++)
        {
            var (client, server, _) = await ConnectAsync(pools);
            var drain = Task.Run(async () =>
            {
                while (true)
                {
                    ReadResult read;
                    try
                    {
                        read = await server.Input.ReadAsync();
                    }
                    catch (IOException)
                    {
                        return; // the client's dispose aborted the connection
                    }

                    foreach (var piece in read.Buffer)
                    {
                        if (piece.Span.IndexOfAnyExcept(Payload) >= 0)
                        {
                            Interlocked.Increment(ref poisonReceived); // sent from a buffer already returned
                        }
                    }

                    server.Input.AdvanceTo(read.Buffer.End);
                    if (read.IsCompleted)
                    {
                        return;
                    }
                }
            });
            var writer = Task.Run(async () =>
            {
                try
                {
                    for (int c = 0; c < 64; c++)
                    {
                        var span = client.Output.GetSpan(c % 8 == 7 ? 70_000 : 1024);
                        Thread.SpinWait(Random.Shared.Next(0, 500)); // e.g. a muxer framing into the span
                        span[..1024].Fill(Payload);
                        client.Output.Advance(1024);
                        await client.Output.FlushAsync();
                    }
                }
                catch (Exception ex) when (ex is ObjectDisposedException or IOException or OperationCanceledException)
                {
                    // typed: the connection was closed or aborted under the writer
                }
                catch (Exception ex)
                {
                    untyped.Enqueue(ex);
                }
            });
            var closer = Task.Run(async () =>
            {
                Thread.SpinWait(Random.Shared.Next(0, 40_000)); // land anywhere in the writer's loop
                await client.DisposeAsync();
            });
            await Task.WhenAll(writer, closer, drain).WaitAsync(Prompt);
            await server.DisposeAsync().AsTask().WaitAsync(Prompt);
        }

        var found = new[]
        {
            $"untyped exceptions: {untyped.Count} ({string.Join("; ", untyped.GroupBy(e => e.GetType().Name + ": " + e.Message).Select(g => $"{g.Count()} x {g.Key}"))})",
            $"bad returns: {string.Join("; ", pools.Violations)}",
            $"writer buffers written after their return: {pools.Writer.WrittenAfterReturn()}",
            $"raw buffers written after their return: {pools.Raw.WrittenAfterReturn()}",
            $"writer buffers never returned: {pools.Writer.Outstanding}",
            $"reads of returned memory: {poisonReceived}",
        };
        Assert.True(
            untyped.IsEmpty && pools.Violations.IsEmpty && pools.Writer.WrittenAfterReturn() == 0 && pools.Raw.WrittenAfterReturn() == 0
                && pools.Writer.Outstanding == 0 && poisonReceived == 0,
            string.Join("\n", found));
    }

    private static async Task<(INoiseSecureConnection Client, INoiseSecureConnection Server, MemoryRawConnection RawClient)> ConnectAsync(Pools pools)
    {
        var (rawClient, rawServer) = MemoryRawConnection.CreatePair(new PipeOptions(pool: pools.Raw, useSynchronizationContext: false));
        var server = TestIdentity.Generate();
        var options = Options.Create(new NoiseOptions { WriteBufferPool = pools.Writer });
        var outbound = new NoiseSecureChannel(NoiseSuite.Classical, options)
            .SecureOutboundAsync(rawClient, TestIdentity.Generate(), server.PeerId, [], default).AsTask();
        var inbound = new NoiseSecureChannel(NoiseSuite.Classical, options).SecureInboundAsync(rawServer, server, [], default).AsTask();
        await Task.WhenAll(outbound, inbound).WaitAsync(Prompt);
        return ((INoiseSecureConnection)outbound.Result, (INoiseSecureConnection)inbound.Result, rawClient);
    }

    private sealed class Pools
    {
        public ConcurrentQueue<string> Violations { get; } = new();

        public CheckingArrayPool Writer { get; }

        public CheckingMemoryPool Raw { get; }

        public Pools()
        {
            Writer = new CheckingArrayPool(Violations);
            Raw = new CheckingMemoryPool(Violations);
        }
    }

    /// <summary>Hands out fresh arrays and never reuses them; a returned array is filled with poison, so a write after
    /// its return shows in the array.</summary>
    private sealed class CheckingArrayPool(ConcurrentQueue<string> violations) : ArrayPool<byte>
    {
        private readonly ConditionalWeakTable<byte[], object> rented = [];
        private readonly ConcurrentQueue<byte[]> returned = new();
        private int outstanding;

        public int ReturnedCount => returned.Count;

        public int Outstanding => Volatile.Read(ref outstanding);

        public override byte[] Rent(int minimumLength)
        {
            var array = new byte[minimumLength];
            rented.Add(array, new object());
            Interlocked.Increment(ref outstanding);
            return array;
        }

        public override void Return(byte[] array, bool clearArray = false)
        {
            if (!rented.Remove(array))
            {
                violations.Enqueue("an array returned twice or never rented");
                return;
            }

            Interlocked.Decrement(ref outstanding);
            array.AsSpan().Fill(Poison);
            returned.Enqueue(array);
        }

        public int WrittenAfterReturn() => returned.Count(a => a.AsSpan().IndexOfAnyExcept(Poison) >= 0);
    }

    /// <summary>The raw connection's pipe buffers, checked the same way.</summary>
    private sealed class CheckingMemoryPool(ConcurrentQueue<string> violations) : MemoryPool<byte>
    {
        private readonly ConcurrentQueue<byte[]> returned = new();

        private ConcurrentQueue<string> Violations { get; } = violations;

        public override int MaxBufferSize => 1 << 20;

        public override IMemoryOwner<byte> Rent(int minBufferSize = -1) => new Owner(this, new byte[Math.Max(minBufferSize, 4096)]);

        public int WrittenAfterReturn() => returned.Count(a => a.AsSpan().IndexOfAnyExcept(Poison) >= 0);

        protected override void Dispose(bool disposing)
        {
        }

        private sealed class Owner(CheckingMemoryPool pool, byte[] array) : IMemoryOwner<byte>
        {
            private int disposed;

            public Memory<byte> Memory => array;

            public void Dispose()
            {
                if (Interlocked.Exchange(ref disposed, 1) != 0)
                {
                    pool.Violations.Enqueue("a pipe buffer returned twice");
                    return;
                }

                array.AsSpan().Fill(Poison);
                pool.returned.Enqueue(array);
            }
        }
    }
}
