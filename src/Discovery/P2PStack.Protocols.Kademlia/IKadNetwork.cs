using System.Net;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Protocols.Kademlia.Pb;

namespace P2PStack.Protocols.Kademlia;

/// <summary>How the DHT reaches other peers: one request, and its response when one is expected.</summary>
public interface IKadNetwork
{
    /// <summary>
    /// Sends <paramref name="request"/> to <paramref name="peer"/> (dialing as needed) and returns its response, or
    /// null when <paramref name="expectResponse"/> is false (ADD_PROVIDER has none).
    /// </summary>
    /// <exception cref="KadProtocolException">The response is malformed.</exception>
    /// <exception cref="IOException">The peer could not be reached or closed the stream.</exception>
    Task<Message?> SendAsync(PeerId peer, Message request, bool expectResponse, CancellationToken cancellationToken);
}

/// <summary>What the DHT knows about peers beyond its routing table: addresses and connections (the peer store).</summary>
public interface IKadPeerDirectory
{
    /// <summary>Addresses to advertise for the local peer.</summary>
    IReadOnlyList<Multiaddr> LocalAddresses { get; }

    IReadOnlyList<Multiaddr> GetAddresses(PeerId peer);

    /// <summary>Remembers addresses heard of for <paramref name="ttl"/>.</summary>
    void AddAddresses(PeerId peer, IReadOnlyList<Multiaddr> addresses, TimeSpan ttl);

    bool IsConnected(PeerId peer);

    /// <summary>Remote IPs of the live connections to the peer (what the diversity filter groups it by).</summary>
    IReadOnlyCollection<IPAddress> GetConnectedIPs(PeerId peer);
}
