using Microsoft.Extensions.DependencyInjection;
using P2PStack.Conformance.Security;
using P2PStack.Network;

namespace P2PStack.Host.Tests.Filters;

/// <summary>Required defaults that name no filter (the padding module's defaults when it pads only on request) take
/// nothing from an inbound connection: the early muxer negotiation inside the security handshake stays.</summary>
public sealed class EarlyMuxerWithDefaultsTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Theory]
    [InlineData(false, "/yamux/1.0.0")] // required, but no filter: nothing to wait for
    [InlineData(true, null)] // a required filter: no muxer before the dialer has selected it
    public async Task An_inbound_connection_keeps_the_early_muxer_unless_a_filter_is_required(bool withFilter, string? expectedEarly)
    {
        await using var server = await TestPeer.StartAsync("/memory/0", configure: p2p =>
        {
            p2p.AddSecuredConnectionFilter<CellFilter>();
            p2p.Services.AddSingleton<IDefaultConnectionFilters>(new Defaults(withFilter ? [CellFilter.Id] : []));
        });
        await using var client = await TestPeer.StartAsync("/memory/0", configure: p2p => p2p.AddSecuredConnectionFilter<CellFilter>());
        var (dialer, listener) = MemoryRawConnection.CreatePair();
        var options = new DialOptions { Filters = withFilter ? [CellFilter.Id] : [] };
        var upgrades = await Task.WhenAll(
            client.Get<Upgrader>().UpgradeOutboundAsync(dialer, server.Host.PeerId, options, CancellationToken.None),
            server.Get<Upgrader>().UpgradeInboundAsync(listener, CancellationToken.None)).WaitAsync(Patience);
        try
        {
            Assert.Equal(expectedEarly, upgrades[0].Secure.EarlyMuxer);
            Assert.Equal(expectedEarly, upgrades[1].Secure.EarlyMuxer);
            Assert.Equal("/yamux/1.0.0", upgrades[1].Muxer);
        }
        finally
        {
            foreach (var upgrade in upgrades) await upgrade.Session.DisposeAsync();
        }
    }

    private sealed class Defaults(IReadOnlyList<string> filters) : IDefaultConnectionFilters
    {
        public IReadOnlyList<string> Filters => filters;
        public bool Required => true;
        public void WentWithout(string filter) { }
        public void Refused(Direction direction) { }
    }
}
