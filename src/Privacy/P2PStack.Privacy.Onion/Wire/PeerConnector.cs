using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Privacy.Onion.Directory;

namespace P2PStack.Privacy.Onion.Wire;

/// <summary>Reaches a peer named in a circuit message (the next relay, a destination) under the host's identity: an
/// existing connection, else the addresses given, else what the peer store knows.</summary>
internal static class PeerConnector
{
    /// <summary>Opens a stream of <paramref name="protocol"/> to <paramref name="peer"/>.</summary>
    /// <param name="allowPrivate">Whether addresses in private networks may be dialed on the word of a remote.</param>
    public static async Task<IStream> OpenStreamAsync(IPeerHost host, PeerId peer, IReadOnlyList<Multiaddr> addresses,
        bool allowPrivate, string protocol, CancellationToken cancellationToken)
    {
        var connection = await ConnectAsync(host, peer, addresses, allowPrivate, cancellationToken).ConfigureAwait(false);
        return await connection.OpenStreamAsync([protocol], cancellationToken).ConfigureAwait(false);
    }

    public static async Task<IConnection> ConnectAsync(IPeerHost host, PeerId peer, IReadOnlyList<Multiaddr> addresses,
        bool allowPrivate, CancellationToken cancellationToken)
    {
        var existing = host.GetConnections(peer).Where(c => !c.IsLimited).OrderBy(c => c.IsDirect ? 0 : 1).FirstOrDefault();
        if (existing is not null) return existing;
        var usable = addresses.Where(a => allowPrivate || !AddressPolicy.IsPrivate(a)).ToList();
        if (usable.Count == 0) return await host.DialAsync(peer, cancellationToken).ConfigureAwait(false);
        var errors = new List<DialAttemptError>();
        foreach (var address in usable)
        {
            try
            {
                var full = address.GetPeerId() is null ? address.Encapsulate($"/p2p/{peer}") : address;
                return await host.DialAsync(full, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                errors.Add(new DialAttemptError(address, e));
            }
        }
        throw new DialFailedException($"could not reach {peer}", errors);
    }
}
