using Google.Protobuf;
using P2PStack.Addressing;
using P2PStack.Daemon.Pb;
using P2PStack.Identity;

namespace P2PStack.Daemon;

/// <summary>Builders of the control protocol's answers.</summary>
internal static class Responses
{
    public static Response Ok() => new() { Type = Response.Types.Type.Ok };

    public static Response Error(string message) => new()
    {
        Type = Response.Types.Type.Error,
        Error = new ErrorResponse { Msg = message },
    };

    /// <summary>A single-value DHT answer.</summary>
    public static Response DhtValue(DHTResponse value) => new() { Type = Response.Types.Type.Ok, Dht = value };

    /// <summary>The first message of a streamed DHT answer.</summary>
    public static Response DhtBegin() => DhtValue(new DHTResponse { Type = DHTResponse.Types.Type.Begin });

    public static DHTResponse DhtEnd() => new() { Type = DHTResponse.Types.Type.End };

    public static PeerInfo PeerInfo(PeerId peer, IEnumerable<Multiaddr> addresses)
    {
        var info = new PeerInfo { Id = ByteString.CopyFrom(peer.Bytes.Span) };
        foreach (var address in addresses) info.Addrs.Add(ByteString.CopyFrom(address.Bytes.Span));
        return info;
    }
}

/// <summary>A control request the daemon refuses; its message goes back to the client in an ERROR response.</summary>
public sealed class DaemonRequestException(string message, Exception? inner = null) : Exception(message, inner);
