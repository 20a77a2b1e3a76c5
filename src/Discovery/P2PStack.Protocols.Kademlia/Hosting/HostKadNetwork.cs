using System.Net;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Protocols.Kademlia.Pb;

namespace P2PStack.Protocols.Kademlia.Hosting;

/// <summary>
/// The DHT's view of a host: requests go on a fresh stream of the DHT protocol each (the spec's simplest form:
/// open, send, read the answer, close; reset on error); addresses and connections come from the peer store and host.
/// </summary>
public sealed class HostKadNetwork(IPeerHost host, KademliaOptions options) : IKadNetwork, IKadPeerDirectory
{
    public async Task<Message?> SendAsync(PeerId peer, Message request, bool expectResponse, CancellationToken cancellationToken)
    {
        var stream = await host.OpenStreamAsync(peer, [options.ProtocolId], cancellationToken).ConfigureAwait(false);
        try
        {
            await KadProtocol.WriteAsync(stream.Output, request, options.MaxMessageSize, cancellationToken).ConfigureAwait(false);
            Message? response = null;
            if (expectResponse)
                response = await KadProtocol.ReadAsync(stream.Input, options.MaxMessageSize, cancellationToken).ConfigureAwait(false);
            await stream.Output.CompleteAsync().ConfigureAwait(false);
            await stream.DisposeAsync().ConfigureAwait(false);
            return response;
        }
        catch
        {
            stream.Reset();
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public IReadOnlyList<Multiaddr> LocalAddresses =>
        host.AdvertisedAddresses.Count > 0 ? host.AdvertisedAddresses : host.ListenAddresses;

    public IReadOnlyList<Multiaddr> GetAddresses(PeerId peer) => host.PeerStore.GetAddresses(peer);

    public void AddAddresses(PeerId peer, IReadOnlyList<Multiaddr> addresses, TimeSpan ttl)
    {
        if (peer != host.PeerId) host.PeerStore.AddAddresses(peer, addresses, ttl);
    }

    public bool IsConnected(PeerId peer) => host.GetConnections(peer).Count > 0;

    public IReadOnlyCollection<IPAddress> GetConnectedIPs(PeerId peer) =>
        [.. host.GetConnections(peer).Select(c => c.RemoteAddress.GetIPAddress()).OfType<IPAddress>().Distinct()];
}
