using P2PStack.Addressing;
using P2PStack.Identity;

namespace P2PStack.Registry;

/// <summary>A node found in the registry: its peer id and dialable addresses (without /p2p).</summary>
public sealed record DiscoveredNode(PeerId Peer, string? Name, IReadOnlyList<Multiaddr> Addresses);

/// <summary>
/// Discovery through a registry: the active nodes other than <c>self</c>, with the addresses they registered. The
/// node agent (<c>p2p start --registry</c>) feeds them to the peer store; a <c>discover</c> command can list them.
/// </summary>
public static class RegistryDiscovery
{
    /// <summary>Reads <c>GET /nodes?status=active</c> (signed by the client's key) and keeps well-formed entries.</summary>
    public static async Task<IReadOnlyList<DiscoveredNode>> FindActiveAsync(RegistryClient client, PeerId? self, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        var nodes = await client.GetNodesAsync(NodeStatus.Active, cancellationToken).ConfigureAwait(false);
        // An answer without "nodes" reads as null (members left out keep their default); it lists nothing.
        IReadOnlyList<NodeView> listed = nodes.Nodes ?? [];
        var found = new List<DiscoveredNode>(listed.Count);
        foreach (var node in listed)
        {
            // A null entry in the list (nullability of list elements is not checked by the JSON reader).
            if (node is null || !PeerId.TryParse(node.Id, out var peer) || peer == self) continue;
            var addresses = new List<Multiaddr>();
            foreach (var text in node.Addresses ?? [])
            {
                if (text is null) continue;
                try
                {
                    var address = Multiaddr.Parse(text);
                    if (address.GetPeerId() is { } named && named != peer) continue; // claims to be another peer's address
                    addresses.Add(address.DecapsulateCode(MultiaddrProtocols.P2P.Code));
                }
                catch (P2PFormatException)
                {
                    // The registry checked it; skip what this build cannot read.
                }
            }
            if (addresses.Count > 0) found.Add(new DiscoveredNode(peer, node.Name, addresses));
        }
        return found;
    }
}
