using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Privacy.Onion.Directory;
using P2PStack.Privacy.Padding;

namespace P2PStack.Privacy.Onion.Wire;

/// <summary>Reaches a peer named in a circuit message (the next relay, a destination) under the host's identity: an
/// existing connection, else the addresses given, else what the peer store knows.</summary>
internal static class PeerConnector
{
    /// <summary>Opens a stream of <paramref name="protocol"/> to <paramref name="peer"/>. With
    /// <paramref name="writesFirst"/> (a circuit link, whose first message is the CREATE) the multistream proposal waits
    /// for the caller's first flush and leaves with it.</summary>
    /// <param name="allowPrivate">Whether addresses in private networks may be dialed on the word of a remote.</param>
    /// <param name="links">For a circuit link (client to its first relay, relay to the next on EXTEND): the padding
    /// policy, which decides whether the link's connection is padded (<see cref="PaddingScope.CircuitLink"/>); null for
    /// other streams (the exit's to a destination) and on nodes without the padding module.</param>
    public static async Task<IStream> OpenStreamAsync(IPeerHost host, PeerId peer, IReadOnlyList<Multiaddr> addresses,
        bool allowPrivate, string protocol, CancellationToken cancellationToken, PaddingPolicy? links = null, bool writesFirst = false)
    {
        var connection = await ConnectAsync(host, peer, addresses, allowPrivate, cancellationToken, links).ConfigureAwait(false);
        return writesFirst
            ? await connection.OpenStreamForFirstWriteAsync(protocol, cancellationToken).ConfigureAwait(false)
            : await connection.OpenStreamAsync([protocol], cancellationToken).ConfigureAwait(false);
    }

    public static async Task<IConnection> ConnectAsync(IPeerHost host, PeerId peer, IReadOnlyList<Multiaddr> addresses,
        bool allowPrivate, CancellationToken cancellationToken, PaddingPolicy? links = null)
    {
        // A padded link needs a padded connection: an unpadded one to the same peer is left to its other traffic and a
        // padded one is dialed beside it (the host keeps several connections per peer; dials that name the filter reuse
        // only connections that run it).
        bool padded = links?.Pads(PaddingScope.CircuitLink) == true;
        var existing = host.GetConnections(peer)
            .Where(c => !c.IsLimited && (!padded || c.Filters.Contains(PaddingFilter.Id)))
            .OrderBy(c => c.IsDirect ? 0 : 1).FirstOrDefault();
        if (existing is not null) return existing;
        var usable = addresses.Where(a => allowPrivate || !AddressPolicy.IsPrivate(a)).ToList();
        if (usable.Count == 0)
        {
            return links is null
                ? await host.DialAsync(peer, cancellationToken).ConfigureAwait(false)
                : await links.DialAsync(host, peer, DialOptions.Default, PaddingScope.CircuitLink, cancellationToken).ConfigureAwait(false);
        }
        var errors = new List<DialAttemptError>();
        foreach (var address in usable)
        {
            try
            {
                var full = address.GetPeerId() is null ? address.Encapsulate($"/p2p/{peer}") : address;
                return links is null
                    ? await host.DialAsync(full, cancellationToken).ConfigureAwait(false)
                    : await links.DialAsync(host, full, DialOptions.Default, PaddingScope.CircuitLink, cancellationToken).ConfigureAwait(false);
            }
            catch (ProtocolNotSupportedException)
            {
                // The peer does not run padding and the policy requires it (counted by the policy): no other address of
                // the same peer will say otherwise.
                throw;
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                errors.Add(new DialAttemptError(address, e));
            }
        }
        throw new DialFailedException($"could not reach {peer}", errors);
    }
}
