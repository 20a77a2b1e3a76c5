using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;
using SynapticMesh.Api;
using SynapticMesh.Cli;

namespace SynapticMesh.Commands;

/// <summary>Targets of connect/ping/perf: a multiaddr (dialed) or a peer id (dialed through the peer store).</summary>
public static class PeerTargets
{
    /// <summary>Client-side check, so a typo fails before talking to the node.</summary>
    public static void Validate(string target, bool allowPeerId)
    {
        if (allowPeerId && PeerId.TryParse(target, out _)) return;
        if (target.StartsWith('/') || !allowPeerId)
        {
            _ = Home.NodeConfig.ParseAddress(target, "peer");
            return;
        }
        throw new CliException($"'{target}' is neither a multiaddr nor a peer id", ExitCodes.Usage);
    }

    /// <summary>Node side: the connection to the target, dialing when needed.</summary>
    public static Task<IConnection> ConnectAsync(IPeerHost host, string? target, CancellationToken cancellationToken) =>
        ConnectAsync(host, target, DialOptions.Default, cancellationToken);

    /// <summary>Node side: a connection to the target satisfying <paramref name="options"/>, dialing when needed.</summary>
    public static async Task<IConnection> ConnectAsync(IPeerHost host, string? target, DialOptions options,
        CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(target)) throw new ApiException(400, "no target given");
        if (PeerId.TryParse(target, out var peer))
        {
            if (peer == host.PeerId) throw new ApiException(400, "that is this node's own peer id");
            return await host.DialAsync(peer, options, cancellationToken);
        }
        Multiaddr address;
        try
        {
            address = Multiaddr.Parse(target);
        }
        catch (P2PStack.P2PFormatException e)
        {
            throw new ApiException(400, $"invalid multiaddr '{target}': {e.Message}", e);
        }
        return await host.DialAsync(address, options, cancellationToken);
    }
}
