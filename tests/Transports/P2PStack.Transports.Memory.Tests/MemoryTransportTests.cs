using System.IO.Pipelines;
using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Network;

namespace P2PStack.Transports.Memory.Tests;

public class MemoryTransportTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData("/memory/42", true, true)]
    [InlineData("/memory/0", false, true)]
    [InlineData("/memory/18446744073709551615", true, true)]
    [InlineData("/ip4/127.0.0.1/tcp/1", false, false)]
    public void Address_support(string address, bool canDial, bool canListen)
    {
        var transport = new MemoryTransport(new MemoryNetwork());
        Assert.Equal(canDial, transport.CanDial(Multiaddr.Parse(address)));
        Assert.Equal(canListen, transport.CanListen(Multiaddr.Parse(address)));
    }

    [Fact]
    public async Task Explicit_ids_are_exclusive_and_freed_on_dispose()
    {
        var transport = new MemoryTransport(new MemoryNetwork());
        Multiaddr address = Multiaddr.Parse("/memory/7");
        IListener listener = await transport.ListenAsync(address, default);
        Assert.Equal(address, listener.ListenAddress);
        await Assert.ThrowsAsync<IOException>(() => transport.ListenAsync(address, default).AsTask());
        await listener.DisposeAsync();
        await using IListener again = await transport.ListenAsync(address, default);
    }

    [Fact]
    public async Task Networks_are_isolated()
    {
        var one = new MemoryTransport(new MemoryNetwork());
        var other = new MemoryTransport(new MemoryNetwork());
        await using IListener listener = await one.ListenAsync(Multiaddr.Parse("/memory/9"), default);
        await Assert.ThrowsAsync<IOException>(() => other.DialAsync(listener.ListenAddress, default).AsTask());
    }

    [Fact]
    public async Task Full_backlog_refuses_dials()
    {
        var transport = new MemoryTransport(new MemoryNetwork(), new MemoryTransportOptions { AcceptBacklog = 2 });
        await using IListener listener = await transport.ListenAsync(Multiaddr.Parse("/memory/0"), default);
        await transport.DialAsync(listener.ListenAddress, default);
        await transport.DialAsync(listener.ListenAddress, default);
        await Assert.ThrowsAsync<IOException>(() => transport.DialAsync(listener.ListenAddress, default).AsTask());
        await listener.AcceptAsync(default);
        await transport.DialAsync(listener.ListenAddress, default);
    }

    [Fact]
    public async Task Unaccepted_connections_are_reset_when_the_listener_closes()
    {
        var transport = new MemoryTransport(new MemoryNetwork());
        IListener listener = await transport.ListenAsync(Multiaddr.Parse("/memory/0"), default);
        IRawConnection dialer = await transport.DialAsync(listener.ListenAddress, default);
        await listener.DisposeAsync();
        var error = await Assert.ThrowsAsync<IOException>(() => dialer.Input.ReadAsync().AsTask().WaitAsync(Patience));
        Assert.Contains("reset", error.Message);
    }

    [Fact]
    public async Task Writers_wait_when_the_reader_lags()
    {
        var transport = new MemoryTransport(new MemoryNetwork(), new MemoryTransportOptions { MaxBufferedBytes = 1024 });
        await using IListener listener = await transport.ListenAsync(Multiaddr.Parse("/memory/0"), default);
        await using IRawConnection dialer = await transport.DialAsync(listener.ListenAddress, default);
        await using IRawConnection accepted = await listener.AcceptAsync(default);

        ValueTask<FlushResult> flush = dialer.Output.WriteAsync(new byte[4096]);
        Assert.False(flush.IsCompleted); // over the bound: parked until the reader drains
        ReadResult read = await accepted.Input.ReadAsync();
        accepted.Input.AdvanceTo(read.Buffer.End);
        await flush.AsTask().WaitAsync(Patience);
    }

    [Fact]
    public async Task Abort_wakes_a_parked_writer_with_an_error()
    {
        var transport = new MemoryTransport(new MemoryNetwork(), new MemoryTransportOptions { MaxBufferedBytes = 1024 });
        await using IListener listener = await transport.ListenAsync(Multiaddr.Parse("/memory/0"), default);
        IRawConnection dialer = await transport.DialAsync(listener.ListenAddress, default);
        IRawConnection accepted = await listener.AcceptAsync(default);
        Task<FlushResult> flush = dialer.Output.WriteAsync(new byte[4096]).AsTask();
        accepted.Abort();
        var error = await Assert.ThrowsAsync<IOException>(() => flush.WaitAsync(Patience));
        Assert.Contains("reset", error.Message);
        await dialer.DisposeAsync();
        await accepted.DisposeAsync();
    }

    [Fact]
    public void Service_collection_shares_one_network()
    {
        using ServiceProvider provider = new P2PBuilder(new ServiceCollection()).AddMemoryTransport(o => o.AcceptBacklog = 5).Services.BuildServiceProvider();
        var transport = Assert.IsType<MemoryTransport>(Assert.Single(provider.GetServices<ITransport>()));
        Assert.Same(provider.GetRequiredService<MemoryNetwork>(), transport.Network);
    }
}
