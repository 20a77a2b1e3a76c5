using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Network;

namespace P2PStack.Transports.Tcp.Tests;

public class TcpTransportTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("/ip4/127.0.0.1/tcp/4001", true, true)]
    [InlineData("/ip6/::1/tcp/4001", true, true)]
    [InlineData("/dns/localhost/tcp/4001", true, false)]
    [InlineData("/dns4/localhost/tcp/4001", true, false)]
    [InlineData("/dns6/localhost/tcp/4001", true, false)]
    [InlineData("/ip4/127.0.0.1/tcp/0", false, true)]
    [InlineData("/ip4/127.0.0.1/tcp/4001/ws", false, false)]
    [InlineData("/ip4/127.0.0.1/udp/4001", false, false)]
    [InlineData("/memory/5", false, false)]
    public void Address_support(string address, bool canDial, bool canListen)
    {
        var transport = new TcpTransport();
        Assert.Equal(canDial, transport.CanDial(Multiaddr.Parse(address)));
        Assert.Equal(canListen, transport.CanListen(Multiaddr.Parse(address)));
    }

    [Theory]
    [InlineData("/dns4/localhost/tcp/{0}", "/ip4/127.0.0.1/tcp/0")]
    [InlineData("/dns/localhost/tcp/{0}", "/ip4/127.0.0.1/tcp/0")]
    public async Task Dials_dns_names(string dialFormat, string listenAddress)
    {
        var transport = new TcpTransport();
        await using IListener listener = await transport.ListenAsync(Multiaddr.Parse(listenAddress), default);
        string port = listener.ListenAddress.ValueOf(MultiaddrProtocols.Tcp)!;
        Task<IRawConnection> accept = listener.AcceptAsync(default).AsTask();
        IRawConnection dialer;
        try
        {
            dialer = await transport.DialAsync(Multiaddr.Parse(string.Format(dialFormat, port)), default).AsTask().WaitAsync(Patience);
        }
        catch (IOException) when (dialFormat.StartsWith("/dns/", StringComparison.Ordinal))
        {
            // /dns may resolve localhost to ::1 only on some hosts; the listener here is IPv4. Then /dns4 covers it.
            return;
        }
        await using (dialer)
        await using (IRawConnection accepted = await accept.WaitAsync(Patience))
        {
            Assert.Equal("127.0.0.1", dialer.RemoteAddress.ValueOf(MultiaddrProtocols.Ip4));
        }
    }

    [Fact]
    public async Task Unresolvable_name_is_an_io_error()
    {
        var transport = new TcpTransport();
        // .invalid is reserved (RFC 6761) and never resolves.
        await Assert.ThrowsAsync<IOException>(
            () => transport.DialAsync(Multiaddr.Parse("/dns4/no-such-host.invalid/tcp/1"), default).AsTask().WaitAsync(Patience));
    }

    [Fact]
    public async Task Reuse_port_dials_from_the_listen_port()
    {
        var options = new TcpTransportOptions { ReusePort = true };
        var a = new TcpTransport(options);
        var b = new TcpTransport(options);
        await using IListener listenerA = await a.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"), default);
        await using IListener listenerB = await b.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"), default);

        Task<IRawConnection> accept = listenerB.AcceptAsync(default).AsTask();
        await using IRawConnection dialer = await a.DialAsync(listenerB.ListenAddress, default).AsTask().WaitAsync(Patience);
        await using IRawConnection accepted = await accept.WaitAsync(Patience);
        Assert.Equal(listenerA.ListenAddress, dialer.LocalAddress);
        Assert.Equal(listenerA.ListenAddress, accepted.RemoteAddress);

        // A second listener may bind the same port too (SO_REUSEPORT).
        await using IListener again = await a.ListenAsync(listenerA.ListenAddress, default);
        Assert.Equal(listenerA.ListenAddress, again.ListenAddress);
    }

    [Fact]
    public async Task A_second_dial_to_the_same_address_falls_back_to_an_ephemeral_port_without_throwing()
    {
        var options = new TcpTransportOptions { ReusePort = true };
        var a = new TcpTransport(options);
        var b = new TcpTransport(options);
        await using IListener listenerA = await a.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"), default);
        await using IListener listenerB = await b.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"), default);
        Task<IRawConnection> accept = listenerB.AcceptAsync(default).AsTask();
        await using IRawConnection first = await a.DialAsync(listenerB.ListenAddress, default).AsTask().WaitAsync(Patience);
        await using IRawConnection firstAccepted = await accept.WaitAsync(Patience);
        Assert.Equal(listenerA.ListenAddress, first.LocalAddress);

        // The four-tuple from the listen port is taken by the first connection: the connect from there fails with
        // EADDRNOTAVAIL, an outcome the dial expects (repeat dials meet it all the time), so nothing is thrown for it.
        // Counted only within this dial's execution context: other test classes run in parallel in this process.
        int unavailable = 0;
        var inThisDial = new AsyncLocal<bool>();
        EventHandler<System.Runtime.ExceptionServices.FirstChanceExceptionEventArgs> count = (_, e) =>
        {
            if (inThisDial.Value && e.Exception is SocketException { SocketErrorCode: SocketError.AddressNotAvailable })
            {
                Interlocked.Increment(ref unavailable);
            }
        };
        AppDomain.CurrentDomain.FirstChanceException += count;
        try
        {
            inThisDial.Value = true;
            Task<IRawConnection> acceptSecond = listenerB.AcceptAsync(default).AsTask();
            await using IRawConnection second = await a.DialAsync(listenerB.ListenAddress, default).AsTask().WaitAsync(Patience);
            await using IRawConnection secondAccepted = await acceptSecond.WaitAsync(Patience);
            Assert.NotEqual(listenerA.ListenAddress, second.LocalAddress);
            Assert.Equal(second.LocalAddress, secondAccepted.RemoteAddress);
            Assert.Equal(Direction.Outbound, second.Direction);
        }
        finally
        {
            AppDomain.CurrentDomain.FirstChanceException -= count;
        }
        Assert.Equal(0, Volatile.Read(ref unavailable));

        // A simultaneous open must use the listen port: with the four-tuple taken it fails as before.
        await Assert.ThrowsAsync<IOException>(() => a.DialAsync(listenerB.ListenAddress,
            new DialOptions { SimultaneousOpenRole = Direction.Outbound }, default).AsTask().WaitAsync(Patience));
    }

    [Fact]
    public async Task A_dial_from_an_ephemeral_port_leaves_the_listen_port_alone()
    {
        var options = new TcpTransportOptions { ReusePort = true };
        var a = new TcpTransport(options);
        var b = new TcpTransport(options);
        await using IListener listenerA = await a.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"), default);
        await using IListener listenerB = await b.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"), default);

        Task<IRawConnection> accept = listenerB.AcceptAsync(default).AsTask();
        await using IRawConnection dialer = await a.DialAsync(listenerB.ListenAddress, new DialOptions { FromEphemeralPort = true }, default)
            .AsTask().WaitAsync(Patience);
        await using IRawConnection accepted = await accept.WaitAsync(Patience);
        Assert.NotEqual(listenerA.ListenAddress, dialer.LocalAddress);
        Assert.Equal(dialer.LocalAddress, accepted.RemoteAddress);

        // A simultaneous open still dials from the listen port: the option does not apply to it.
        Task<IRawConnection> acceptOpen = listenerB.AcceptAsync(default).AsTask();
        await using IRawConnection open = await a.DialAsync(listenerB.ListenAddress,
            new DialOptions { FromEphemeralPort = true, SimultaneousOpenRole = Direction.Outbound }, default).AsTask().WaitAsync(Patience);
        await using IRawConnection acceptedOpen = await acceptOpen.WaitAsync(Patience);
        Assert.Equal(listenerA.ListenAddress, open.LocalAddress);
    }

    [Fact]
    public async Task Without_reuse_port_the_port_is_exclusive()
    {
        var transport = new TcpTransport();
        await using IListener listener = await transport.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"), default);
        await Assert.ThrowsAsync<IOException>(() => transport.ListenAsync(listener.ListenAddress, default).AsTask());
    }

    /// <summary>A listener that never accepts and has a one-slot backlog: once the queue is full the kernel drops
    /// SYNs, so a connect stays pending until it is cancelled or times out.</summary>
    private static Socket StalledListener(out Multiaddr address)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        socket.Listen(1);
        address = Multiaddr.Parse($"/ip4/127.0.0.1/tcp/{((IPEndPoint)socket.LocalEndPoint!).Port}");
        return socket;
    }

    [Fact]
    public async Task Cancelling_a_pending_connect_cancels_it()
    {
        using Socket stalled = StalledListener(out Multiaddr address);
        var transport = new TcpTransport(new TcpTransportOptions { ConnectTimeout = Timeout.InfiniteTimeSpan });
        var established = new List<IRawConnection>();
        try
        {
            // Fill the backlog; the first dial that does not complete on its own must end by our cancellation.
            for (int attempt = 0; attempt < 20; attempt++)
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
                try
                {
                    established.Add(await transport.DialAsync(address, cts.Token).AsTask().WaitAsync(Patience));
                }
                catch (OperationCanceledException)
                {
                    Assert.True(cts.IsCancellationRequested);
                    return;
                }
            }
            Assert.Fail("every connect completed, the backlog never filled");
        }
        finally
        {
            foreach (IRawConnection connection in established) connection.Abort();
        }
    }

    [Fact]
    public async Task Connect_timeout_is_a_timeout_exception()
    {
        using Socket stalled = StalledListener(out Multiaddr address);
        var transport = new TcpTransport(new TcpTransportOptions { ConnectTimeout = TimeSpan.FromMilliseconds(300) });
        var established = new List<IRawConnection>();
        try
        {
            for (int attempt = 0; attempt < 20; attempt++)
            {
                try
                {
                    established.Add(await transport.DialAsync(address, default).AsTask().WaitAsync(Patience));
                }
                catch (TimeoutException e)
                {
                    Assert.Contains("TcpTransportOptions.ConnectTimeout (0.3 s)", e.Message); // the option to raise
                    return;
                }
            }
            Assert.Fail("every connect completed, the backlog never filled");
        }
        finally
        {
            foreach (IRawConnection connection in established) connection.Abort();
        }
    }

    [Fact]
    public async Task Abort_resets_so_the_remote_read_fails()
    {
        var transport = new TcpTransport();
        await using IListener listener = await transport.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"), default);
        Task<IRawConnection> accept = listener.AcceptAsync(default).AsTask();
        IRawConnection dialer = await transport.DialAsync(listener.ListenAddress, default);
        await using IRawConnection accepted = await accept.WaitAsync(Patience);
        dialer.Abort();
        var error = await Assert.ThrowsAsync<IOException>(async () =>
        {
            while (true)
            {
                ReadResult result = await accepted.Input.ReadAsync().AsTask().WaitAsync(Patience);
                accepted.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted) return;
            }
        });
        Assert.Contains("reset", error.Message);
        await dialer.DisposeAsync();
    }

    [Fact]
    public async Task Writes_to_a_reset_connection_fail()
    {
        var transport = new TcpTransport();
        await using IListener listener = await transport.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"), default);
        Task<IRawConnection> accept = listener.AcceptAsync(default).AsTask();
        await using IRawConnection dialer = await transport.DialAsync(listener.ListenAddress, default);
        IRawConnection accepted = await accept.WaitAsync(Patience);
        accepted.Abort();
        await Assert.ThrowsAnyAsync<IOException>(async () =>
        {
            for (int i = 0; i < 10_000; i++)
            {
                FlushResult flush = await dialer.Output.WriteAsync(new byte[64 * 1024]).AsTask().WaitAsync(Patience);
                if (flush.IsCompleted) throw new IOException("completed");
            }
        });
    }

    [Fact]
    public async Task A_reset_first_seen_by_a_write_still_fails_the_reader()
    {
        // Linux reports a reset to the first syscall only. Park the dialer's receive loop on backpressure, let a write
        // see the reset, then drain: the reader must get an error, not a clean end of stream.
        var transport = new TcpTransport(new TcpTransportOptions { MaxBufferedBytes = 64 * 1024 });
        await using IListener listener = await transport.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"), default);
        Task<IRawConnection> accept = listener.AcceptAsync(default).AsTask();
        await using IRawConnection dialer = await transport.DialAsync(listener.ListenAddress, default);
        IRawConnection accepted = await accept.WaitAsync(Patience);

        await accepted.Output.WriteAsync(new byte[256 * 1024]).AsTask().WaitAsync(Patience);
        await Task.Delay(100); // the dialer's input pipe fills and its receive loop stops calling recv
        accepted.Abort();

        await Assert.ThrowsAnyAsync<IOException>(async () =>
        {
            for (int i = 0; i < 10_000; i++)
            {
                FlushResult flush = await dialer.Output.WriteAsync(new byte[64 * 1024]).AsTask().WaitAsync(Patience);
                if (flush.IsCompleted) throw new IOException("completed");
            }
        });
        var error = await Assert.ThrowsAsync<IOException>(async () =>
        {
            while (true)
            {
                ReadResult result = await dialer.Input.ReadAsync().AsTask().WaitAsync(Patience);
                dialer.Input.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted) return;
            }
        });
        Assert.Contains("reset", error.Message);
        await accepted.DisposeAsync();
    }

    [Fact]
    public async Task A_flush_spanning_more_segments_than_one_send_takes_arrives_intact()
    {
        // 150 pieces of 8 KiB in one flush: about 75 pipe segments, more than one gathered send takes.
        var transport = new TcpTransport(new TcpTransportOptions { MaxBufferedBytes = 4 * 1024 * 1024 });
        await using IListener listener = await transport.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"), default);
        Task<IRawConnection> accept = listener.AcceptAsync(default).AsTask();
        await using IRawConnection dialer = await transport.DialAsync(listener.ListenAddress, default);
        await using IRawConnection accepted = await accept.WaitAsync(Patience);

        var sent = new byte[150 * 8192];
        new Random(7).NextBytes(sent);
        for (int offset = 0; offset < sent.Length; offset += 8192)
        {
            sent.AsSpan(offset, 8192).CopyTo(dialer.Output.GetSpan(8192));
            dialer.Output.Advance(8192);
        }
        Task flush = dialer.Output.FlushAsync().AsTask();

        var received = new byte[sent.Length];
        int filled = 0;
        while (filled < received.Length)
        {
            ReadResult result = await accepted.Input.ReadAsync().AsTask().WaitAsync(Patience);
            foreach (ReadOnlyMemory<byte> segment in result.Buffer)
            {
                segment.Span.CopyTo(received.AsSpan(filled));
                filled += segment.Length;
            }
            accepted.Input.AdvanceTo(result.Buffer.End);
            Assert.False(result.IsCompleted && filled < received.Length, "the stream ended early");
        }
        await flush.WaitAsync(Patience);
        Assert.Equal(sent, received);
    }

    [Theory]
    [InlineData(16 * 1024, 1024 * 1024)]
    [InlineData(256 * 1024, 1024 * 1024)]
    [InlineData(1024 * 1024, 64 * 1024)] // the bulk buffer is held to MaxBufferedBytes
    public async Task A_bulk_transfer_arrives_intact_whatever_the_receive_buffer(int bulkReceiveBuffer, long maxBuffered)
    {
        var transport = new TcpTransport(new TcpTransportOptions { BulkReceiveBufferSize = bulkReceiveBuffer, MaxBufferedBytes = maxBuffered });
        await using IListener listener = await transport.ListenAsync(Multiaddr.Parse("/ip4/127.0.0.1/tcp/0"), default);
        Task<IRawConnection> accept = listener.AcceptAsync(default).AsTask();
        await using IRawConnection dialer = await transport.DialAsync(listener.ListenAddress, default);
        await using IRawConnection accepted = await accept.WaitAsync(Patience);

        // Messages of 65,537 bytes, as Noise sends them, in flushes of three: most straddle any 64 KiB buffer.
        var sent = new byte[24 * 65_537];
        new Random(bulkReceiveBuffer).NextBytes(sent);
        Task send = Task.Run(async () =>
        {
            for (int offset = 0; offset < sent.Length; offset += 3 * 65_537)
            {
                await dialer.Output.WriteAsync(sent.AsMemory(offset, 3 * 65_537)).AsTask().WaitAsync(Patience);
            }
        });

        var received = new byte[sent.Length];
        int filled = 0;
        while (filled < received.Length)
        {
            ReadResult result = await accepted.Input.ReadAsync().AsTask().WaitAsync(Patience);
            foreach (ReadOnlyMemory<byte> segment in result.Buffer)
            {
                segment.Span.CopyTo(received.AsSpan(filled));
                filled += segment.Length;
            }
            accepted.Input.AdvanceTo(result.Buffer.End);
            Assert.False(result.IsCompleted && filled < received.Length, "the stream ended early");
        }
        await send.WaitAsync(Patience);
        Assert.Equal(sent, received);
    }

    [Fact]
    public void Service_collection_registers_the_transport()
    {
        using ServiceProvider provider = new P2PBuilder(new ServiceCollection())
            .AddTcpTransport(o => o.ReusePort = true)
            .AddTcpTransport()
            .Services.BuildServiceProvider();
        ITransport transport = Assert.Single(provider.GetServices<ITransport>());
        Assert.Same(provider.GetRequiredService<TcpTransport>(), transport);
        Assert.True(provider.GetRequiredService<IOptions<TcpTransportOptions>>().Value.ReusePort);
    }

    [Fact]
    public void Invalid_options_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new TcpTransport(new TcpTransportOptions { ListenBacklog = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TcpTransport(new TcpTransportOptions { ConnectTimeout = TimeSpan.Zero }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TcpTransport(new TcpTransportOptions { BulkReceiveBufferSize = 8 * 1024 }));
    }
}
