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
}
