using System.Buffers;
using System.IO.Pipelines;
using System.Security.Cryptography;
using P2PStack.Addressing;
using P2PStack.Network;

namespace P2PStack.Conformance.Transport;

/// <summary>
/// Behaviour every <see cref="ITransport"/> must show. A transport's test project derives from this class, supplies
/// the transport and a listen address (port 0 / any id), and xunit runs every test against it. Loopback only.
/// Hangs fail through <see cref="Patience"/>; no test asserts on timing.
/// </summary>
public abstract class TransportConformanceTests
{
    protected static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    /// <summary>A fresh transport; the two transports of one test must be able to reach each other.</summary>
    protected abstract ITransport CreateTransport();

    /// <summary>
    /// A transport to dial the listeners of <see cref="CreateTransport"/> with: by default another fresh one. A virtual
    /// transport (whose connections are streams of another connection) dials from the other end of that connection.
    /// </summary>
    protected virtual ITransport CreateDialingTransport() => CreateTransport();

    /// <summary>An address to listen on that lets the system choose (e.g. /ip4/127.0.0.1/tcp/0).</summary>
    protected abstract Multiaddr ListenAddress { get; }

    /// <summary>Checks the reported listen address is concrete (e.g. the port is no longer 0).</summary>
    protected abstract void AssertConcrete(Multiaddr boundAddress);

    private async Task<(IListener Listener, IRawConnection Dialer, IRawConnection Accepted)> ConnectAsync(ITransport? dialerTransport = null)
    {
        ITransport listenerTransport = CreateTransport();
        dialerTransport ??= CreateDialingTransport();
        IListener listener = await listenerTransport.ListenAsync(ListenAddress, default).AsTask().WaitAsync(Patience);
        Task<IRawConnection> accept = listener.AcceptAsync(default).AsTask();
        IRawConnection dialer = await dialerTransport.DialAsync(listener.ListenAddress, default).AsTask().WaitAsync(Patience);
        IRawConnection accepted = await accept.WaitAsync(Patience);
        return (listener, dialer, accepted);
    }

    protected static async Task<byte[]> ReadExactlyAsync(PipeReader reader, int count)
    {
        var received = new byte[count];
        int filled = 0;
        while (filled < count)
        {
            ReadResult result = await reader.ReadAsync().AsTask().WaitAsync(Patience);
            int take = (int)Math.Min(result.Buffer.Length, count - filled);
            result.Buffer.Slice(0, take).CopyTo(received.AsSpan(filled));
            filled += take;
            reader.AdvanceTo(result.Buffer.GetPosition(take));
            if (filled < count && result.IsCompleted) throw new EndOfStreamException($"stream ended after {filled} of {count} bytes");
        }
        return received;
    }

    protected static async Task<byte[]> ReadToEndAsync(PipeReader reader)
    {
        var all = new ArrayBufferWriter<byte>();
        while (true)
        {
            ReadResult result = await reader.ReadAsync().AsTask().WaitAsync(Patience);
            foreach (ReadOnlyMemory<byte> segment in result.Buffer) all.Write(segment.Span);
            reader.AdvanceTo(result.Buffer.End);
            if (result.IsCompleted) return all.WrittenSpan.ToArray();
        }
    }

    [Fact]
    public async Task Listen_reports_a_concrete_dialable_address()
    {
        ITransport transport = CreateTransport();
        Assert.True(transport.CanListen(ListenAddress));
        await using IListener listener = await transport.ListenAsync(ListenAddress, default);
        AssertConcrete(listener.ListenAddress);
        Assert.True(CreateDialingTransport().CanDial(listener.ListenAddress));

        Task<IRawConnection> accept = listener.AcceptAsync(default).AsTask();
        await using IRawConnection dialer = await CreateDialingTransport().DialAsync(listener.ListenAddress, default).AsTask().WaitAsync(Patience);
        await using IRawConnection accepted = await accept.WaitAsync(Patience);
        Assert.Equal(Direction.Outbound, dialer.Direction);
        Assert.Equal(Direction.Inbound, accepted.Direction);
        Assert.False(dialer.RemoteAddress.IsEmpty);
        Assert.False(accepted.RemoteAddress.IsEmpty);
        Assert.Equal(accepted.LocalAddress, dialer.RemoteAddress);
        Assert.Equal(dialer.LocalAddress, accepted.RemoteAddress);
    }

    [Fact]
    public async Task Two_listeners_on_the_any_address_get_different_addresses()
    {
        ITransport transport = CreateTransport();
        await using IListener first = await transport.ListenAsync(ListenAddress, default);
        await using IListener second = await transport.ListenAsync(ListenAddress, default);
        Assert.NotEqual(first.ListenAddress, second.ListenAddress);
    }

    [Fact]
    public async Task Echo_in_both_directions()
    {
        var (listener, dialer, accepted) = await ConnectAsync();
        await using (listener)
        await using (dialer)
        await using (accepted)
        {
            await dialer.Output.WriteAsync("hello from the dialer"u8.ToArray());
            Assert.Equal("hello from the dialer"u8.ToArray(), await ReadExactlyAsync(accepted.Input, 21));
            await accepted.Output.WriteAsync("hello back"u8.ToArray());
            Assert.Equal("hello back"u8.ToArray(), await ReadExactlyAsync(dialer.Input, 10));
        }
    }

    [Fact]
    public async Task Sixteen_MiB_in_both_directions_at_once_arrives_intact()
    {
        var (listener, dialer, accepted) = await ConnectAsync();
        await using (listener)
        await using (dialer)
        await using (accepted)
        {
            byte[] up = RandomNumberGenerator.GetBytes(16 * 1024 * 1024);
            byte[] down = RandomNumberGenerator.GetBytes(16 * 1024 * 1024);
            Task sendUp = SendInChunksAsync(dialer.Output, up);
            Task sendDown = SendInChunksAsync(accepted.Output, down);
            Task<byte[]> receiveUp = ReadToEndAsync(accepted.Input);
            Task<byte[]> receiveDown = ReadToEndAsync(dialer.Input);
            // A bulk transfer: on a loaded machine, over a link with latency and loss, it can take a while.
            await Task.WhenAll(sendUp, sendDown).WaitAsync(TimeSpan.FromMinutes(2));
            Assert.Equal(SHA256.HashData(up), SHA256.HashData(await receiveUp));
            Assert.Equal(SHA256.HashData(down), SHA256.HashData(await receiveDown));
        }
    }

    private static async Task SendInChunksAsync(PipeWriter output, byte[] data)
    {
        // Uneven chunk sizes so message/frame boundaries never line up with the data.
        int offset = 0, chunk = 1;
        while (offset < data.Length)
        {
            int size = Math.Min(chunk, data.Length - offset);
            await output.WriteAsync(data.AsMemory(offset, size));
            offset += size;
            chunk = chunk * 7 % 200_003 + 1;
        }
        await output.CompleteAsync();
    }

    [Fact]
    public async Task Fifty_concurrent_connections_each_echo()
    {
        ITransport transport = CreateTransport();
        await using IListener listener = await transport.ListenAsync(ListenAddress, default);
        const int Count = 50;
        Task server = Task.Run(async () =>
        {
            var echoes = new List<Task>();
            for (int i = 0; i < Count; i++)
            {
                IRawConnection connection = await listener.AcceptAsync(default);
                echoes.Add(Task.Run(async () =>
                {
                    await using (connection)
                    {
                        byte[] request = await ReadToEndAsync(connection.Input);
                        await connection.Output.WriteAsync(request);
                        await connection.Output.CompleteAsync();
                    }
                }));
            }
            await Task.WhenAll(echoes);
        });
        ITransport client = CreateDialingTransport();
        Task[] clients = Enumerable.Range(0, Count).Select(i => Task.Run(async () =>
        {
            await using IRawConnection connection = await client.DialAsync(listener.ListenAddress, default);
            byte[] payload = RandomNumberGenerator.GetBytes(1000 + i);
            await connection.Output.WriteAsync(payload);
            await connection.Output.CompleteAsync();
            Assert.Equal(payload, await ReadToEndAsync(connection.Input));
        })).ToArray();
        await Task.WhenAll(clients).WaitAsync(Patience);
        await server.WaitAsync(Patience);
    }

    [Fact]
    public async Task Half_close_lets_the_other_side_finish_replying()
    {
        var (listener, dialer, accepted) = await ConnectAsync();
        await using (listener)
        await using (dialer)
        await using (accepted)
        {
            await dialer.Output.WriteAsync("request"u8.ToArray());
            await dialer.Output.CompleteAsync();

            Assert.Equal("request"u8.ToArray(), await ReadToEndAsync(accepted.Input)); // sees EOF
            await accepted.Output.WriteAsync("response after your FIN"u8.ToArray());
            await accepted.Output.CompleteAsync();
            Assert.Equal("response after your FIN"u8.ToArray(), await ReadToEndAsync(dialer.Input));
        }
    }

    [Fact]
    public async Task Dispose_delivers_flushed_data_then_end_of_stream()
    {
        var (listener, dialer, accepted) = await ConnectAsync();
        await using (listener)
        await using (accepted)
        {
            await dialer.Output.WriteAsync(new byte[100_000]);
            await dialer.DisposeAsync();
            Assert.Equal(100_000, (await ReadToEndAsync(accepted.Input)).Length);
        }
    }

    [Fact]
    public async Task Dispose_completes_while_unread_input_fills_every_buffer()
    {
        var (listener, dialer, accepted) = await ConnectAsync();
        await using (listener)
        await using (accepted)
        {
            // The dialer never reads: its input buffer and the kernel's fill, and the accepted side stalls.
            Task writing = Task.Run(async () =>
            {
                var chunk = new byte[64 * 1024];
                for (int i = 0; i < 16 * 16; i++)
                {
                    FlushResult flush = await accepted.Output.WriteAsync(chunk);
                    if (flush.IsCompleted) return;
                }
            });
            await Task.WhenAny(writing, Task.Delay(200));
            await dialer.DisposeAsync().AsTask().WaitAsync(Patience);
            accepted.Abort();
            await Task.WhenAny(writing, Task.Delay(Patience));
            Assert.True(writing.IsCompleted, "the remote's writes did not end after the dispose");
        }
    }

    [Fact]
    public async Task Abort_is_seen_by_the_remote_as_an_error_or_end_of_stream()
    {
        var (listener, dialer, accepted) = await ConnectAsync();
        await using (listener)
        await using (accepted)
        {
            await dialer.Output.WriteAsync("x"u8.ToArray());
            Assert.Equal("x"u8.ToArray(), await ReadExactlyAsync(accepted.Input, 1));
            Task<ReadResult> pending = accepted.Input.ReadAsync().AsTask();
            dialer.Abort();
            try
            {
                ReadResult result = await pending.WaitAsync(Patience);
                Assert.True(result.IsCompleted, "after an abort the remote must see the end of the stream or an error");
                Assert.True(result.Buffer.IsEmpty);
            }
            catch (IOException)
            {
                // A reset: also what an abort should look like.
            }
            // Local use after abort fails rather than hanging.
            await Assert.ThrowsAnyAsync<Exception>(async () =>
            {
                ReadResult local = await dialer.Input.ReadAsync().AsTask().WaitAsync(Patience);
                if (local.IsCompleted) throw new EndOfStreamException();
            });
            await dialer.DisposeAsync();
        }
    }

    [Fact]
    public async Task Dial_to_a_closed_address_fails_with_an_IO_error()
    {
        ITransport transport = CreateTransport();
        IListener listener = await transport.ListenAsync(ListenAddress, default);
        Multiaddr closed = listener.ListenAddress;
        await listener.DisposeAsync();
        await Assert.ThrowsAnyAsync<IOException>(() => CreateDialingTransport().DialAsync(closed, default).AsTask().WaitAsync(Patience));
    }

    [Fact]
    public async Task Dial_with_a_cancelled_token_is_cancelled()
    {
        ITransport transport = CreateTransport();
        await using IListener listener = await transport.ListenAsync(ListenAddress, default);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            () => CreateDialingTransport().DialAsync(listener.ListenAddress, new CancellationToken(true)).AsTask().WaitAsync(Patience));
    }

    [Fact]
    public async Task Disposing_the_listener_fails_pending_and_later_accepts()
    {
        ITransport transport = CreateTransport();
        IListener listener = await transport.ListenAsync(ListenAddress, default);
        Task<IRawConnection> pending = listener.AcceptAsync(default).AsTask();
        await listener.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => pending.WaitAsync(Patience));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => listener.AcceptAsync(default).AsTask().WaitAsync(Patience));
    }

    [Fact]
    public async Task Cancelling_an_accept_leaves_the_listener_usable()
    {
        ITransport transport = CreateTransport();
        await using IListener listener = await transport.ListenAsync(ListenAddress, default);
        using (var cts = new CancellationTokenSource())
        {
            Task<IRawConnection> pending = listener.AcceptAsync(cts.Token).AsTask();
            cts.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.WaitAsync(Patience));
        }
        Task<IRawConnection> accept = listener.AcceptAsync(default).AsTask();
        await using IRawConnection dialer = await CreateDialingTransport().DialAsync(listener.ListenAddress, default).AsTask().WaitAsync(Patience);
        await using IRawConnection accepted = await accept.WaitAsync(Patience);
        await dialer.Output.WriteAsync("ok"u8.ToArray());
        Assert.Equal("ok"u8.ToArray(), await ReadExactlyAsync(accepted.Input, 2));
    }
}
