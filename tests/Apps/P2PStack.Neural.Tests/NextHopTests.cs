using Microsoft.Extensions.DependencyInjection;
using P2PStack.Identity;
using P2PStack.Neural.Messages;
using P2PStack.Transports.Memory;

namespace P2PStack.Neural.Tests;

/// <summary>
/// A peer the sender cannot dial (a browser behind its signaling host) is reached through the forwarder an
/// <see cref="INeuralNextHops"/> names; a peer the sender is connected to is not.
/// </summary>
public sealed class NextHopTests
{
    [Fact]
    public async Task A_message_for_an_undialable_peer_goes_through_the_named_forwarder_which_forwards_it()
    {
        var network = new MemoryNetwork();
        var hops = new Hops();
        await using var sender = await NeuralPeer.StartAsync(network, services: s => s.AddSingleton<INeuralNextHops>(hops));
        await using var host = await NeuralPeer.StartAsync(network);
        await using var browser = await NeuralPeer.StartAsync(network);
        await sender.ConnectAsync(host);
        await browser.ConnectAsync(host); // only the host is connected to it

        hops.Routes[browser.PeerId] = [PeerId.FromPublicKey(PrivateKey.Generate().PublicKey), host.PeerId]; // the connected one is chosen
        await sender.Mesh.SendAsync(NeuralDestination.ToPeer(browser.PeerId), new Thought { Content = "via the host" });
        await NeuralPeer.WaitUntil(() => browser.Recorder.Messages.Count == 1, "the forwarded message at the browser");
        var received = browser.Recorder.Messages[0];
        Assert.Equal("via the host", ((Thought)received.Body).Content);
        Assert.Equal(sender.PeerId, received.SourcePeer);
        // The forwarder counts after queueing, so the browser may have the message a moment before the count moves.
        await NeuralPeer.WaitUntil(() => host.Mesh.GetStats().Forwarded == 1, "the forwarder's count");
        Assert.Empty(host.Recorder.Messages);
        Assert.Empty(sender.Host.GetConnections(browser.PeerId)); // the sender never dialed it

        // Connected directly: the forwarder is not used.
        await sender.ConnectAsync(browser);
        await sender.Mesh.SendAsync(NeuralDestination.ToPeer(browser.PeerId), new Thought { Content = "direct" });
        await NeuralPeer.WaitUntil(() => browser.Recorder.Messages.Count == 2, "the direct message");
        Assert.Equal(1, host.Mesh.GetStats().Forwarded);
    }

    private sealed class Hops : INeuralNextHops
    {
        public Dictionary<PeerId, IReadOnlyList<PeerId>> Routes { get; } = [];

        public IReadOnlyList<PeerId> For(PeerId peer) => Routes.TryGetValue(peer, out var hops) ? hops : [];
    }
}
