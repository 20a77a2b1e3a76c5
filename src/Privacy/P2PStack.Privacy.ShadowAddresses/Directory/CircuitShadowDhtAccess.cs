using P2PStack.Network;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Protocols.Kademlia;

namespace P2PStack.Privacy.ShadowAddresses.Directory;

/// <summary>
/// The DHT over onion circuits (docs/specs/shadow.md, section 5.1): each put or get is one operation with circuits of
/// its own (<see cref="CircuitRequest.Isolation"/>: shared with no other operation of this node) and one end-to-end
/// connection per DHT peer it asks, each under a fresh ephemeral identity. The peers asked and the storing peers see
/// an ephemeral peer id arriving from an exit relay (<c>/p2p/&lt;exit&gt;/p2p-onion</c>); the first relay sees this
/// node build circuits and nothing of what goes over them. Only peers that accept circuit connections (onion
/// destinations, <c>OnionOptions.AcceptCircuitConnections</c>) can be asked; the others fail like unreachable peers.
/// </summary>
public sealed class CircuitShadowDhtAccess(KademliaDht dht, OnionClient client, IPeerHost host) : IShadowDhtAccess
{
    public string Name => "circuits";

    /// <summary>Until the directory holds relays for the operation's first circuit (any destination, as
    /// <see cref="CircuitKadSession.PrepareAsync"/> builds it).</summary>
    public Task WaitReadyAsync(TimeSpan timeout, CancellationToken cancellationToken) =>
        client.WaitForPathAsync(new CircuitRequest(), timeout, cancellationToken);

    public async Task<int> PutAsync(byte[] key, byte[] value, CancellationToken cancellationToken)
    {
        await using var session = await OpenAsync(cancellationToken).ConfigureAwait(false);
        return await dht.PutValueThroughAsync(session, key, value, cancellationToken).ConfigureAwait(false);
    }

    public async Task<byte[]> GetAsync(byte[] key, CancellationToken cancellationToken)
    {
        await using var session = await OpenAsync(cancellationToken).ConfigureAwait(false);
        return await dht.GetValueThroughAsync(session, key, cancellationToken).ConfigureAwait(false);
    }

    private async Task<CircuitKadSession> OpenAsync(CancellationToken cancellationToken)
    {
        var session = new CircuitKadSession(client, host, dht.Options);
        try
        {
            // The first circuit is built before the lookup, outside the DHT's per-request timeout.
            await session.PrepareAsync(cancellationToken).ConfigureAwait(false);
            return session;
        }
        catch
        {
            await session.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}
