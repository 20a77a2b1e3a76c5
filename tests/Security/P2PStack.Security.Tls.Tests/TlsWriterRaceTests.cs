using System.Buffers;
using System.Collections.Concurrent;
using System.IO.Pipelines;
using Microsoft.Extensions.Options;
using P2PStack.Conformance.Security;
using P2PStack.Network;

namespace P2PStack.Security.Tls.Tests;

/// <summary>A TLS connection disposed by one task while another writes to its output: the plaintext writer's pooled
/// buffers go back to their pool only once the writer has let go of them, and the writer sees only typed exceptions.</summary>
public sealed class TlsWriterRaceTests
{
    private const byte Payload = 0x5A;
    private const byte Poison = 0xDD;
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Dispose_between_GetMemory_and_Advance_leaves_the_buffer_to_the_writer()
    {
        var pool = new CheckingMemoryPool();
        var (client, server, rawClient) = await ConnectAsync(pool);
        await using var _ = server;

        var memory = client.Output.GetMemory(1024); // the writer holds the memory...
        await client.DisposeAsync().AsTask().WaitAsync(Prompt); // ...when another task disposes the connection
        memory.Span[..1024].Fill(Payload);
        Assert.Equal(0, pool.WrittenAfterReturn());
        Assert.Equal(0, pool.ReturnedCount);

        Assert.Throws<ObjectDisposedException>(() => client.Output.Advance(1024));
        Assert.True(pool.ReturnedCount > 0, "the writer's buffer is returned once it lets go");
        Assert.Equal(0, pool.WrittenAfterReturn());
        Assert.Empty(pool.Violations);
        Assert.True(rawClient.IsAborted, "a close during a write aborts: the bytes being written cannot go out");
        Assert.Throws<ObjectDisposedException>(() => client.Output.GetSpan(1));
    }

    [Fact]
    public async Task Dispose_during_writes_never_returns_a_buffer_the_writer_still_uses()
    {
        var pool = new CheckingMemoryPool();
        var untyped = new ConcurrentQueue<Exception>();
        for (int i = 0; i < 60; i++)
        {
            var (client, server, _) = await ConnectAsync(pool);
            var drain = Task.Run(async () =>
            {
                try
                {
                    while (true)
                    {
                        var read = await server.Input.ReadAsync();
                        server.Input.AdvanceTo(read.Buffer.End);
                        if (read.IsCompleted)
                        {
                            return;
                        }
                    }
                }
                catch (IOException)
                {
                    // the client's dispose aborted the connection
                }
            });
            var writer = Task.Run(async () =>
            {
                try
                {
                    for (int c = 0; c < 64; c++)
                    {
                        var span = client.Output.GetSpan(1024);
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
            $"bad returns: {string.Join("; ", pool.Violations)}",
            $"buffers written after their return: {pool.WrittenAfterReturn()}",
        };
        Assert.True(untyped.IsEmpty && pool.Violations.IsEmpty && pool.WrittenAfterReturn() == 0, string.Join("\n", found));
    }

    private static async Task<(ISecureConnection Client, ISecureConnection Server, MemoryRawConnection RawClient)> ConnectAsync(
        CheckingMemoryPool pool)
    {
        var (rawClient, rawServer) = MemoryRawConnection.CreatePair();
        var server = TestIdentity.Generate();
        var options = Options.Create(new TlsOptions { WriteBufferPool = pool });
        var outbound = new TlsSecureChannel(options).SecureOutboundAsync(rawClient, TestIdentity.Generate(), server.PeerId, [], default).AsTask();
        var inbound = new TlsSecureChannel(options).SecureInboundAsync(rawServer, server, [], default).AsTask();
        await Task.WhenAll(outbound, inbound).WaitAsync(Prompt);
        return (outbound.Result, inbound.Result, rawClient);
    }

    /// <summary>Hands out fresh arrays and never reuses them; a returned array is filled with poison, so a write after
    /// its return shows in the array.</summary>
    private sealed class CheckingMemoryPool : MemoryPool<byte>
    {
        private readonly ConcurrentQueue<byte[]> returned = new();

        public ConcurrentQueue<string> Violations { get; } = new();

        public int ReturnedCount => returned.Count;

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
                    pool.Violations.Enqueue("a buffer returned twice");
                    return;
                }

                array.AsSpan().Fill(Poison);
                pool.returned.Enqueue(array);
            }
        }
    }
}
