using Microsoft.Extensions.Logging;
using P2PStack.Network;

namespace P2PStack.Protocols.Kademlia.Hosting;

/// <summary>
/// Serves inbound DHT streams: any number of requests per stream (the spec requires handling several), each answered
/// in turn, until the remote closes, goes idle, or sends something invalid (then the stream is reset).
/// </summary>
public sealed partial class KadStreamHandler(KademliaDht dht, ILogger<KadStreamHandler> logger) : IProtocolHandler
{
    public IReadOnlyList<string> Protocols { get; } = [dht.Options.ProtocolId];

    public bool RunForAnonymousRemotes => dht.Options.ServeAnonymousPeers;

    public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
    {
        var options = dht.Options;
        await using (stream.ConfigureAwait(false))
        {
            try
            {
                for (int served = 0; served < options.MaxRequestsPerStream; served++)
                {
                    using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                    idle.CancelAfter(options.InboundStreamIdleTimeout);
                    var request = await KadProtocol.ReadOrEndAsync(stream.Input, options.MaxMessageSize, idle.Token).ConfigureAwait(false);
                    if (request is null) break;
                    dht.Metrics.InboundRequest(request.Type);
                    Log.Request(logger, request.Type, request.Key, stream.Connection.RemotePeer, stream.Connection.RemoteAddress);
                    var response = await dht.RequestHandler.HandleAsync(stream.Connection.RemotePeer, request, idle.Token).ConfigureAwait(false);
                    if (response is not null)
                        await KadProtocol.WriteAsync(stream.Output, response, options.MaxMessageSize, idle.Token).ConfigureAwait(false);
                }
                await stream.Output.CompleteAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is P2PFormatException or DhtStoreLimitException or ResourceLimitExceededException or IOException
                or OperationCanceledException)
            {
                Log.RequestRefused(logger, stream.Connection.RemotePeer, e.Message);
                stream.Reset();
            }
        }
    }

    private static partial class Log
    {
        [LoggerMessage(Level = LogLevel.Trace, Message = "DHT {Type} request for key {Key} from {Peer} at {Address}")]
        public static partial void Request(ILogger logger, Pb.Message.Types.MessageType type, Google.Protobuf.ByteString key, Identity.PeerId peer,
            Addressing.Multiaddr address);

        [LoggerMessage(Level = LogLevel.Debug, Message = "DHT request from {Peer} refused: {Reason}")]
        public static partial void RequestRefused(ILogger logger, Identity.PeerId peer, string reason);
    }
}
