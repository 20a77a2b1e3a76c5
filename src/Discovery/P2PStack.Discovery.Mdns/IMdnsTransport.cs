using System.Net;

namespace P2PStack.Discovery.Mdns;

/// <summary>Handles one received packet; the span is only valid during the call.</summary>
internal delegate void MdnsPacketHandler(ReadOnlySpan<byte> packet, IPEndPoint source);

/// <summary>
/// Moves mDNS packets: multicast to the group on every joined interface, or unicast to one endpoint. The seam lets
/// tests run the service over an in-memory channel as well as real multicast.
/// </summary>
internal interface IMdnsTransport : IAsyncDisposable
{
    /// <summary>Opens the sockets and starts delivering received packets to <paramref name="handler"/>.</summary>
    Task StartAsync(MdnsPacketHandler handler, CancellationToken cancellationToken);

    /// <summary>Sends to the group (<paramref name="destination"/> null) or to one endpoint.</summary>
    ValueTask SendAsync(ReadOnlyMemory<byte> packet, IPEndPoint? destination, CancellationToken cancellationToken);
}
