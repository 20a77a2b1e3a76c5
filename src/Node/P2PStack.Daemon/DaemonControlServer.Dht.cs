using Google.Protobuf;
using P2PStack.Daemon.Pb;
using P2PStack.Identity;
using P2PStack.Protocols.Kademlia;
using P2PStack.Protocols.Kademlia.Validation;

namespace P2PStack.Daemon;

// DHT requests. Streamed answers (FIND_PEERS_CONNECTED_TO_PEER, FIND_PROVIDERS, GET_CLOSEST_PEERS, SEARCH_VALUE) are
// written once the query has finished, so a failed query is one ERROR response and never a half-written stream.
public sealed partial class DaemonControlServer
{
    private async Task<Outcome> HandleDhtAsync(DHTRequest request, ControlConnection connection, CancellationToken cancellationToken)
    {
        var dht = _dht ?? throw new DaemonRequestException("the DHT is not enabled (start the daemon with --dht)");
        if (!request.HasType) throw new DaemonRequestException("invalid request: dht type is missing");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(RequestFields.Timeout(request.HasTimeout, request.Timeout, _options));
        var token = timeout.Token;
        switch (request.Type)
        {
            case DHTRequest.Types.Type.FindPeer:
                {
                    var info = await dht.FindPeerAsync(RequestFields.Peer(request.Peer, "peer"), token).ConfigureAwait(false);
                    var value = new DHTResponse { Type = DHTResponse.Types.Type.Value, Peer = Responses.PeerInfo(info.Peer, info.Addresses) };
                    await connection.WriteAsync(Responses.DhtValue(value), cancellationToken).ConfigureAwait(false);
                    return Outcome.Continue;
                }
            case DHTRequest.Types.Type.FindPeersConnectedToPeer:
                {
                    var peers = await dht.FindPeersConnectedToPeerAsync(RequestFields.Peer(request.Peer, "peer"), token).ConfigureAwait(false);
                    await WriteStreamAsync(connection, peers.Select(PeerValue), cancellationToken).ConfigureAwait(false);
                    return Outcome.Continue;
                }
            case DHTRequest.Types.Type.FindProviders:
                {
                    var cid = RequestFields.Cid(request.HasCid, request.Cid);
                    int count = request.HasCount && request.Count > 0 ? Math.Min(request.Count, _options.MaxProviderCount) : _options.DefaultProviderCount;
                    var providers = await dht.FindProvidersAsync(cid.Hash.Encoded, count, token).ConfigureAwait(false);
                    await WriteStreamAsync(connection, providers.Take(count).Select(PeerValue), cancellationToken).ConfigureAwait(false);
                    return Outcome.Continue;
                }
            case DHTRequest.Types.Type.GetClosestPeers:
                {
                    var key = RequestFields.Bytes(request.HasKey, request.Key, "key");
                    var peers = await dht.GetClosestPeersAsync(key, token).ConfigureAwait(false);
                    await WriteStreamAsync(connection, peers.Select(peer => new DHTResponse
                    {
                        Type = DHTResponse.Types.Type.Value,
                        Value = ByteString.CopyFrom(peer.Bytes.Span),
                    }), cancellationToken).ConfigureAwait(false);
                    return Outcome.Continue;
                }
            case DHTRequest.Types.Type.GetPublicKey:
                {
                    var key = await GetPublicKeyAsync(dht, RequestFields.Peer(request.Peer, "peer"), token).ConfigureAwait(false);
                    var value = new DHTResponse { Type = DHTResponse.Types.Type.Value, Value = ByteString.CopyFrom(key.ToProtobuf()) };
                    await connection.WriteAsync(Responses.DhtValue(value), cancellationToken).ConfigureAwait(false);
                    return Outcome.Continue;
                }
            case DHTRequest.Types.Type.GetValue:
                {
                    byte[] value = await dht.GetValueAsync(RequestFields.Bytes(request.HasKey, request.Key, "key"), token).ConfigureAwait(false);
                    var answer = new DHTResponse { Type = DHTResponse.Types.Type.Value, Value = ByteString.CopyFrom(value) };
                    await connection.WriteAsync(Responses.DhtValue(answer), cancellationToken).ConfigureAwait(false);
                    return Outcome.Continue;
                }
            case DHTRequest.Types.Type.SearchValue:
                {
                    // The stream "ends on the best value": our lookup settles on the best before answering, so it is the
                    // only one sent.
                    byte[] value = await dht.GetValueAsync(RequestFields.Bytes(request.HasKey, request.Key, "key"), token).ConfigureAwait(false);
                    await WriteStreamAsync(connection, [new DHTResponse { Type = DHTResponse.Types.Type.Value, Value = ByteString.CopyFrom(value) }],
                        cancellationToken).ConfigureAwait(false);
                    return Outcome.Continue;
                }
            case DHTRequest.Types.Type.PutValue:
                {
                    var key = RequestFields.Bytes(request.HasKey, request.Key, "key");
                    var value = RequestFields.Bytes(request.HasValue, request.Value, "value");
                    await dht.PutValueAsync(key, value, token).ConfigureAwait(false);
                    await connection.WriteAsync(Responses.Ok(), cancellationToken).ConfigureAwait(false);
                    return Outcome.Continue;
                }
            case DHTRequest.Types.Type.Provide:
                await dht.ProvideAsync(RequestFields.Cid(request.HasCid, request.Cid), token).ConfigureAwait(false);
                await connection.WriteAsync(Responses.Ok(), cancellationToken).ConfigureAwait(false);
                return Outcome.Continue;
            default:
                throw new DaemonRequestException($"unknown dht request type {(int)request.Type}");
        }
    }

    private static DHTResponse PeerValue(Protocols.Kademlia.PeerInfo info) =>
        new() { Type = DHTResponse.Types.Type.Value, Peer = Responses.PeerInfo(info.Peer, info.Addresses) };

    private static async Task WriteStreamAsync(ControlConnection connection, IEnumerable<DHTResponse> values, CancellationToken cancellationToken)
    {
        await connection.WriteAsync(Responses.DhtBegin(), cancellationToken).ConfigureAwait(false);
        foreach (var value in values) await connection.WriteAsync(value, cancellationToken).ConfigureAwait(false);
        await connection.WriteAsync(Responses.DhtEnd(), cancellationToken).ConfigureAwait(false);
    }

    // The key inlined in the peer id, else the one the peer store learned in a handshake, else the DHT's /pk record.
    private async Task<PublicKey> GetPublicKeyAsync(KademliaDht dht, PeerId peer, CancellationToken cancellationToken)
    {
        if (peer.TryGetPublicKey() is { } inlined) return inlined;
        if (_host.PeerStore.GetPublicKey(peer) is { } known) return known;
        byte[] record;
        try
        {
            record = await dht.GetValueAsync(PublicKeyValidator.KeyFor(peer), cancellationToken).ConfigureAwait(false);
        }
        catch (DhtNotFoundException e)
        {
            throw new DaemonRequestException($"public key of {peer} not found", e);
        }
        return PublicKey.FromProtobuf(record); // validated by the /pk validator against the peer id
    }
}
