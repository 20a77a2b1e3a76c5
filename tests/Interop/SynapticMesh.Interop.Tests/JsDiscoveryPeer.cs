using System.Text.Json.Nodes;
using P2PStack.Interop.Support;

namespace SynapticMesh.Interop.Tests;

/// <summary>A running interop/js/discovery-peer.mjs: js-libp2p 3 with kad-dht (/ipfs/kad/1.0.0, server) and gossipsub.</summary>
public sealed class JsDiscoveryPeer : JsProcess
{
    private JsDiscoveryPeer(string name) : base($"js peer {name}", TimeSpan.FromSeconds(60)) => Name = name;

    public string Name { get; }

    /// <summary>The TCP address with /p2p, as the CLI dials it.</summary>
    public string Address => Addresses[0].ToString();

    public static async Task<JsDiscoveryPeer> StartAsync(string name)
    {
        var peer = new JsDiscoveryPeer(name);
        await peer.LaunchAsync("discovery-peer.mjs", ["--listen", "/ip4/127.0.0.1/tcp/0"]);
        return peer;
    }

    public Task<JsonObject> RunAsync(string command, JsonObject? fields = null) => CommandAsync(command, fields);
}
