using P2PStack.Network;
using P2PStack.Transports.Memory;

namespace P2PStack.Privacy.Padding.Tests;

/// <summary>The policy over real hosts on the memory transport: which dials are padded, and a remote without padding.</summary>
public class PaddingPolicyTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Shadow_connections_and_circuit_links_are_padded_other_dials_are_not()
    {
        var network = new MemoryNetwork();
        await using var server = await PaddingPeer.StartAsync("/memory/0", _ => { }, network);
        await using var client = await PaddingPeer.StartAsync("/memory/0", _ => { }, network);
        var policy = client.Get<PaddingPolicy>();
        Assert.True(policy.Pads(PaddingScope.CircuitLink));
        Assert.True(policy.Pads(PaddingScope.ShadowConnection));
        Assert.False(policy.Pads(PaddingScope.Other));

        var plain = await policy.DialAsync(client.Host, server.Address, DialOptions.Default, PaddingScope.Other, CancellationToken.None)
            .AsTask().WaitAsync(Patience);
        Assert.Empty(plain.Filters);
        var padded = await policy.DialAsync(client.Host, server.Address, DialOptions.Default, PaddingScope.ShadowConnection, CancellationToken.None)
            .AsTask().WaitAsync(Patience);
        Assert.Equal([PaddingFilter.Id], padded.Filters);
        Assert.NotSame(plain, padded);
        await using var ping = await padded.OpenStreamAsync([P2PStack.Protocols.Ping.PingProtocol.Id], CancellationToken.None);
        var rtts = await client.Get<P2PStack.Protocols.Ping.PingService>().PingAsync(ping, 3, CancellationToken.None).WaitAsync(Patience);
        Assert.Equal(3, rtts.Count);
    }

    [Fact]
    public async Task A_remote_without_padding_is_refused_when_required_and_reached_without_it_otherwise()
    {
        var network = new MemoryNetwork();
        await using var server = await PaddingPeer.StartAsync("/memory/0", null, network);
        await using var strict = await PaddingPeer.StartAsync("/memory/0", _ => { }, network);
        await Assert.ThrowsAsync<ProtocolNotSupportedException>(() => strict.Get<PaddingPolicy>()
            .DialAsync(strict.Host, server.Address, DialOptions.Default, PaddingScope.ShadowConnection, CancellationToken.None)
            .AsTask().WaitAsync(Patience));
        Assert.Empty(strict.Host.GetConnections());

        await using var lenient = await PaddingPeer.StartAsync("/memory/0", o => o.Required = false, network);
        var connection = await lenient.Get<PaddingPolicy>()
            .DialAsync(lenient.Host, server.Address, DialOptions.Default, PaddingScope.ShadowConnection, CancellationToken.None)
            .AsTask().WaitAsync(Patience);
        Assert.Empty(connection.Filters);
        Assert.Equal(1, lenient.Get<PaddingMetrics>().Fallbacks);
    }

    [Fact]
    public async Task With_padding_on_every_connection_ordinary_dials_and_streams_are_padded_and_reuse_the_padded_connection()
    {
        var network = new MemoryNetwork();
        await using var server = await PaddingPeer.StartAsync("/memory/0", _ => { }, network);
        await using var client = await PaddingPeer.StartAsync("/memory/0", o => o.OnOtherConnections = true, network);
        Assert.True(client.Get<PaddingPolicy>().Pads(PaddingScope.Other));

        // An ordinary dial (no filters named) negotiates padding.
        var connection = await client.Host.DialAsync(server.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.Equal([PaddingFilter.Id], connection.Filters);
        // The dialer's upgrade ends before the listener's: wait until the server lists the connection too.
        await WaitUntilAsync(() => server.Host.GetConnections(client.Host.PeerId).Count > 0);
        Assert.Equal([PaddingFilter.Id], Assert.Single(server.Host.GetConnections(client.Host.PeerId)).Filters);
        // A stream opened by peer id takes that connection: no second, unpadded one.
        await using (var ping = await client.Host.OpenStreamAsync(server.Host.PeerId, [P2PStack.Protocols.Ping.PingProtocol.Id], CancellationToken.None)
            .AsTask().WaitAsync(Patience))
        {
            Assert.Same(connection, ping.Connection);
            Assert.Single(await client.Get<P2PStack.Protocols.Ping.PingService>().PingAsync(ping, 1, CancellationToken.None).WaitAsync(Patience));
        }
        Assert.Single(client.Host.GetConnections(server.Host.PeerId));
        // A dial that names its filters (here: explicitly none) is not changed.
        var plain = await client.Host.DialAsync(server.Address, new DialOptions { Filters = [] }, CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.Empty(plain.Filters);
        Assert.NotSame(connection, plain);
    }

    [Fact]
    public async Task With_padding_required_on_every_connection_a_remote_without_it_is_refused_both_ways()
    {
        var network = new MemoryNetwork();
        await using var strict = await PaddingPeer.StartAsync("/memory/0", o => o.OnOtherConnections = true, network);
        await using var without = await PaddingPeer.StartAsync("/memory/0", null, network);

        // Dialing out: the remote answers na to the filter; the dial fails and is counted.
        await Assert.ThrowsAsync<ProtocolNotSupportedException>(() =>
            strict.Host.DialAsync(without.Address, CancellationToken.None).AsTask().WaitAsync(Patience));
        Assert.Empty(strict.Host.GetConnections(without.Host.PeerId));
        Assert.Equal(1, strict.Get<PaddingMetrics>().Refusals);

        // Dialed by it: no early muxer, and no muxer before padding, so the unpadded dialer cannot complete its upgrade.
        await Assert.ThrowsAsync<ProtocolNotSupportedException>(() =>
            without.Host.DialAsync(strict.Address, CancellationToken.None).AsTask().WaitAsync(Patience));
        await WaitUntilAsync(() => strict.Get<PaddingMetrics>().Refusals == 2);
        Assert.Empty(strict.Host.GetConnections(without.Host.PeerId));
        Assert.Empty(without.Host.GetConnections(strict.Host.PeerId));

        // A peer that pads on request only (the default policy) is accepted: it selects padding when asked to pad.
        await using var padder = await PaddingPeer.StartAsync("/memory/0", _ => { }, network);
        var padded = await padder.Host.DialAsync(strict.Address, new DialOptions { Filters = [PaddingFilter.Id] }, CancellationToken.None)
            .AsTask().WaitAsync(Patience);
        Assert.Equal([PaddingFilter.Id], padded.Filters);
    }

    [Fact]
    public async Task With_padding_on_every_connection_but_not_required_a_remote_without_it_is_reached_without_it()
    {
        var network = new MemoryNetwork();
        await using var lenient = await PaddingPeer.StartAsync("/memory/0", o =>
        {
            o.OnOtherConnections = true;
            o.Required = false;
        }, network);
        await using var without = await PaddingPeer.StartAsync("/memory/0", null, network);
        await using var padder = await PaddingPeer.StartAsync("/memory/0", _ => { }, network);

        // Out: the filter refused, the muxer proposed next in the same negotiation (one connection, counted).
        var connection = await lenient.Host.DialAsync(without.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.Empty(connection.Filters);
        Assert.Equal(1, lenient.Get<PaddingMetrics>().Fallbacks);
        await using (var ping = await lenient.Host.OpenStreamAsync(without.Host.PeerId, [P2PStack.Protocols.Ping.PingProtocol.Id], CancellationToken.None)
            .AsTask().WaitAsync(Patience))
            Assert.Same(connection, ping.Connection); // the unpadded connection serves later dials
        Assert.Equal(1, lenient.Get<PaddingMetrics>().Fallbacks);
        // A peer that runs padding gets a padded connection.
        var padded = await lenient.Host.DialAsync(padder.Address, CancellationToken.None).AsTask().WaitAsync(Patience);
        Assert.Equal([PaddingFilter.Id], padded.Filters);

        // In: an unpadded dialer is accepted.
        var inbound = await without.Host.DialAsync(lenient.Address, new DialOptions { ForceNewConnection = true }, CancellationToken.None)
            .AsTask().WaitAsync(Patience);
        Assert.Empty(inbound.Filters);
        Assert.Equal(0, lenient.Get<PaddingMetrics>().Refusals);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var budget = new CancellationTokenSource(Patience);
        while (!condition()) await Task.Delay(10, budget.Token);
    }
}
