using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.CompilerServices;

namespace P2PStack.Muxers.Yamux.Tests;

/// <summary>A stream disposed by one task while another writes to it: the output buffer goes back to the pool only
/// once the writer has let go of it, and the writer sees only typed exceptions.</summary>
public sealed class YamuxStreamWriterRaceTests
{
    private const byte Payload = 0x5A;
    private const byte Poison = 0xDD;
    private const int Iterations = 400;
    private const int ChunksPerStream = 32; // 32 KiB per stream: within the initial window, no flush waits

    [Fact]
    public async Task Dispose_during_writes_never_returns_the_buffer_while_the_writer_holds_it()
    {
        var pool = new CheckingPool();
        await using var peer = RawPeer.Start(configure: o => o.WriteBufferPool = pool);
        var poisonSent = 0;
        var drain = Task.Run(async () =>
        {
            while (true)
            {
                var (header, payload) = await peer.ReadFrameAsync();
                if (header.Type == YamuxFrameType.Data && payload.AsSpan().IndexOfAnyExcept(Payload) >= 0)
                {
                    Interlocked.Increment(ref poisonSent); // bytes read from a buffer already back in the pool
                }
            }
        });
        var untyped = new ConcurrentQueue<Exception>();

        for (int i = 0; i < Iterations; i++)
        {
            uint id = (uint)(2 * i + 1);
            var stream = await peer.AcceptedStreamAsync(id, readAck: false);

            var writer = Task.Run(async () =>
            {
                try
                {
                    for (int c = 0; c < ChunksPerStream; c++)
                    {
                        var span = stream.Output.GetSpan(1024);
                        Thread.SpinWait(Random.Shared.Next(0, 500)); // e.g. encrypting into the span
                        span[..1024].Fill(Payload);
                        stream.Output.Advance(1024);
                        await stream.Output.FlushAsync();
                    }
                }
                catch (Exception ex) when (ex is ObjectDisposedException or IOException or OperationCanceledException)
                {
                    // typed: the stream was closed or reset under the writer
                }
                catch (Exception ex)
                {
                    untyped.Enqueue(ex);
                }
            });
            var closer = Task.Run(async () =>
            {
                Thread.SpinWait(Random.Shared.Next(0, 20_000)); // land anywhere in the writer's loop
                await stream.DisposeAsync();
            });
            await Task.WhenAll(writer, closer).WaitAsync(RawPeer.Timeout);
        }

        var found = new[]
        {
            $"untyped exceptions: {untyped.Count} ({string.Join("; ", untyped.GroupBy(e => e.GetType().Name + ": " + e.Message).Select(g => $"{g.Count()} x {g.Key}"))})",
            $"bad returns: {pool.Violations.Count}",
            $"arrays written after their return: {pool.WrittenAfterReturn()}",
            $"data frames read from a returned array: {Volatile.Read(ref poisonSent)}",
        };
        Assert.True(
            untyped.IsEmpty && pool.Violations.IsEmpty && pool.WrittenAfterReturn() == 0 && Volatile.Read(ref poisonSent) == 0,
            string.Join("\n", found));
        Assert.False(drain.IsFaulted, drain.Exception?.ToString());
    }

    [Fact]
    public async Task Dispose_between_GetSpan_and_Advance_leaves_the_buffer_to_the_writer_and_resets()
    {
        var pool = new CheckingPool();
        await using var peer = RawPeer.Start(configure: o => o.WriteBufferPool = pool);
        var stream = await peer.AcceptedStreamAsync(1, readAck: false);
        Assert.True((await peer.ReadFrameAsync()).Header.Has(YamuxFlags.Ack));

        var memory = stream.Output.GetMemory(1024); // the writer holds the buffer...
        await stream.DisposeAsync().AsTask().WaitAsync(RawPeer.Timeout); // ...when another task disposes the stream
        Assert.Equal(0, pool.ReturnedCount);
        memory.Span[..1024].Fill(Payload);

        Assert.Throws<ObjectDisposedException>(() => stream.Output.Advance(1024));
        Assert.Equal(1, pool.ReturnedCount); // returned once the writer let go
        Assert.Equal(0, pool.WrittenAfterReturn());
        Assert.Empty(pool.Violations);
        Assert.Throws<ObjectDisposedException>(() => stream.Output.GetSpan(1));
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await stream.Output.FlushAsync());
        Assert.Equal(new YamuxFrameHeader(YamuxFrameType.WindowUpdate, YamuxFlags.Rst, 1, 0), (await peer.ReadFrameAsync()).Header);
    }

    [Fact]
    public async Task The_writers_own_complete_after_GetMemory_without_Advance_closes_gracefully_and_returns_the_buffer()
    {
        var pool = new CheckingPool();
        await using var peer = RawPeer.Start(configure: o => o.WriteBufferPool = pool);
        var stream = await peer.AcceptedStreamAsync(1, readAck: false);
        Assert.True((await peer.ReadFrameAsync()).Header.Has(YamuxFlags.Ack));

        // What PipeWriter.CopyFromAsync does at the end of its source: memory asked for, nothing advanced, then complete.
        stream.Output.GetMemory(1024);
        await stream.Output.CompleteAsync().AsTask().WaitAsync(RawPeer.Timeout);

        var end = (await peer.ReadFrameAsync()).Header;
        Assert.True(end.Has(YamuxFlags.Fin) && !end.Has(YamuxFlags.Rst), $"a FIN, not a reset: {end}");
        Assert.Equal(1, pool.ReturnedCount);
        Assert.Empty(pool.Violations);
        await stream.DisposeAsync();
    }

    /// <summary>Hands out fresh arrays and never reuses them; a returned array is filled with poison, so a write after
    /// its return shows in the array and a read after it shows in the bytes sent.</summary>
    private sealed class CheckingPool : ArrayPool<byte>
    {
        private readonly ConditionalWeakTable<byte[], object> rented = [];
        private readonly ConcurrentQueue<byte[]> returned = new();

        public ConcurrentQueue<string> Violations { get; } = new();

        public override byte[] Rent(int minimumLength)
        {
            var array = new byte[minimumLength];
            rented.Add(array, new object());
            return array;
        }

        public override void Return(byte[] array, bool clearArray = false)
        {
            if (!rented.Remove(array))
            {
                Violations.Enqueue("an array returned twice or never rented");
                return;
            }

            array.AsSpan().Fill(Poison);
            returned.Enqueue(array);
        }

        public int ReturnedCount => returned.Count;

        public int WrittenAfterReturn() => returned.Count(a => a.AsSpan().IndexOfAnyExcept(Poison) >= 0);
    }
}
