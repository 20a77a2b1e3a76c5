using P2PStack.Interop.Support;
using P2PStack.Addressing;

namespace P2PStack.Interop.Discovery.Tests;

/// <summary>
/// A running interop/js/discovery-peer.mjs (js-libp2p 3 with @libp2p/kad-dht and @libp2p/gossipsub on Node 22).
/// </summary>
public sealed class JsNode : JsProcess
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(30);

    private JsNode(string name) : base($"js node {name}", DefaultTimeout) => Name = name;

    public string Name { get; }

    /// <summary>Listen addresses without the /p2p suffix, as the DHT reports them.</summary>
    public IReadOnlyList<Multiaddr> TransportAddresses => [.. Addresses.Select(a => a.DecapsulateCode(MultiaddrProtocols.P2P.Code))];

    public override string ToString() => $"{Name} (js {PeerId})";

    public static async Task<JsNode> StartAsync(string name, params string[] extraArguments)
    {
        var node = new JsNode(name);
        await node.LaunchAsync("discovery-peer.mjs", ["--listen", "/ip4/127.0.0.1/tcp/0", .. extraArguments]).ConfigureAwait(false);
        return node;
    }
}
