using System.Text.Json.Nodes;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Interop.Support;

namespace P2PStack.Nat.Testing;

/// <summary>Starts the node processes of NAT tests: our test node or js-libp2p's <c>interop/js/nat-peer.mjs</c>
/// (installed by the interop fixture), in a namespace or on loopback.</summary>
public static class Peers
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);

    /// <summary>Our node (<c>P2PStack.Nat.TestNode node ...</c>).</summary>
    public static Task<JsonLinesPeer> CSharpAsync(NetNamespace? ns, IEnumerable<string> arguments, CancellationToken cancellationToken) =>
        ns is null
            ? JsonLinesPeer.StartLocalAsync(TestNodes.Dotnet, [TestNodes.AssemblyPath, "node", .. arguments], StartTimeout, cancellationToken)
            : TestNodes.StartNodeAsync(ns, arguments, cancellationToken);

    /// <summary>A js-libp2p node with relay, DCUtR and AutoNAT (<c>nat-peer.mjs</c>).</summary>
    public static async Task<JsonLinesPeer> JsAsync(NetNamespace? ns, IEnumerable<string> arguments, CancellationToken cancellationToken)
    {
        string directory = await JsPeerInstall.EnsureInstalledAsync().ConfigureAwait(false);
        string node = JsPeerInstall.NodePath(directory);
        return ns is null
            ? await JsonLinesPeer.StartLocalAsync(node, ["nat-peer.mjs", .. arguments], StartTimeout, cancellationToken, directory).ConfigureAwait(false)
            : await ns.StartJsonLinesPeerAsync(node, ["nat-peer.mjs", .. arguments], StartTimeout, cancellationToken, directory).ConfigureAwait(false);
    }

    /// <summary>Polls a command until its answer satisfies <paramref name="done"/>; past <paramref name="patience"/>
    /// (a hang guard, not a measurement) it throws <see cref="TimeoutException"/> with the last answer.</summary>
    public static async Task<JsonObject> UntilAsync(this JsonLinesPeer peer, string cmd, Func<JsonObject, bool> done, TimeSpan patience,
        CancellationToken cancellationToken, JsonObject? fields = null)
    {
        var deadline = DateTime.UtcNow + patience;
        while (true)
        {
            var answer = await peer.CommandAsync(cmd, fields).ConfigureAwait(false);
            if (done(answer)) return answer;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{cmd} on {peer.Process.Label} never gave the awaited answer within {patience}: {answer.ToJsonString()}\n{peer.Process.Tail()}");
            await Task.Delay(TimeSpan.FromMilliseconds(250), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The peer's first relay address with its /p2p, once it holds a reservation.</summary>
    public static async Task<string> CircuitAddressAsync(this JsonLinesPeer peer, TimeSpan patience, CancellationToken cancellationToken)
    {
        var addresses = await peer.UntilAsync("addresses", a => a["relay"]!.AsArray().Count > 0, patience, cancellationToken).ConfigureAwait(false);
        return $"{addresses["relay"]![0]!.GetValue<string>()}/p2p/{peer.PeerId()}";
    }

    /// <summary>Starts <paramref name="fileName"/> in the namespace and waits for its ready line (the lab kills it on
    /// dispose at the latest; a start that fails kills it at once).</summary>
    public static Task<JsonLinesPeer> StartJsonLinesPeerAsync(this NetNamespace ns, string fileName, IEnumerable<string> arguments,
        TimeSpan startTimeout, CancellationToken cancellationToken, string? workingDirectory = null) =>
        JsonLinesPeer.AttachAsync(ns.Start(fileName, arguments, workingDirectory), ns.Address, startTimeout, cancellationToken);

    public static PeerId PeerId(this JsonLinesPeer peer) => Identity.PeerId.Parse(peer.Ready["peerId"]!.GetValue<string>());

    /// <summary>The first announced address (with /p2p) that is not loopback (each namespace has its own loopback).</summary>
    public static Multiaddr Address(this JsonLinesPeer peer)
    {
        var addresses = peer.Ready["addresses"]!.AsArray().Select(a => Multiaddr.Parse(a!.GetValue<string>())).ToList();
        var chosen = addresses.FirstOrDefault(a => a.GetIPAddress() is { } ip && !System.Net.IPAddress.IsLoopback(ip)) ?? addresses.FirstOrDefault();
        if (chosen is null) throw new InvalidOperationException($"{peer.Process.Label} announced no address");
        if (peer.HostAddress is { } host && chosen.GetIPAddress() is { } found && System.Net.IPAddress.IsLoopback(found))
        {
            // js announces only loopback before its interfaces are expanded: use the namespace's address and the port.
            chosen = Multiaddr.Parse($"/ip4/{host}/tcp/{chosen.ValueOf(MultiaddrProtocols.Tcp)}/p2p/{peer.PeerId()}");
        }
        return chosen;
    }
}
