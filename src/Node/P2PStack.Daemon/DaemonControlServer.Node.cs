using Google.Protobuf;
using P2PStack.Daemon.Pb;
using P2PStack.Identity;

namespace P2PStack.Daemon;

// IDENTIFY, CONNECT, DISCONNECT, LIST_PEERS, STREAM_OPEN, STREAM_HANDLER, PEERSTORE, CONNMANAGER.
public sealed partial class DaemonControlServer
{
    private Response Identify()
    {
        var identify = new IdentifyResponse { Id = ByteString.CopyFrom(_host.PeerId.Bytes.Span) };
        var addresses = _host.AdvertisedAddresses.Count > 0 ? _host.AdvertisedAddresses : _host.ListenAddresses;
        foreach (var address in addresses) identify.Addrs.Add(ByteString.CopyFrom(address.Bytes.Span));
        return new Response { Type = Response.Types.Type.Ok, Identify = identify };
    }

    private async Task ConnectAsync(ConnectRequest request, CancellationToken cancellationToken)
    {
        var peer = RequestFields.Peer(request.Peer, "peer");
        if (peer == _host.PeerId) throw new DaemonRequestException("cannot connect to ourselves");
        var addresses = RequestFields.PeerAddresses(request.Addrs, peer, "addrs");
        if (addresses.Count > 0) _host.PeerStore.AddAddresses(peer, addresses, _options.ConnectAddressTtl);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(RequestFields.Timeout(request.HasTimeout, request.Timeout, _options));
        // A relayed (limited) connection satisfies a CONNECT: the client asked for that peer, maybe by a circuit address.
        await _host.DialAsync(peer, LimitedAllowed, timeout.Token).ConfigureAwait(false);
    }

    private static readonly Network.DialOptions LimitedAllowed = new() { AllowLimited = true };

    private async Task DisconnectAsync(DisconnectRequest request, CancellationToken cancellationToken)
    {
        var peer = RequestFields.Peer(request.Peer, "peer");
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.DefaultOperationTimeout);
        await _host.DisconnectAsync(peer, timeout.Token).ConfigureAwait(false);
    }

    private Response ListPeers()
    {
        var response = Responses.Ok();
        var seen = new HashSet<PeerId>();
        foreach (var connection in _host.GetConnections())
        {
            if (seen.Add(connection.RemotePeer)) response.Peers.Add(Responses.PeerInfo(connection.RemotePeer, [connection.RemoteAddress]));
        }
        return response;
    }

    private async Task<Outcome> StreamOpenAsync(StreamOpenRequest request, ControlConnection connection, CancellationToken cancellationToken)
    {
        var peer = RequestFields.Peer(request.Peer, "peer");
        var protocols = RequestFields.Protocols(request.Proto, "proto");
        if (peer == _host.PeerId) throw new DaemonRequestException("cannot open a stream to ourselves");
        Network.IStream stream;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            timeout.CancelAfter(RequestFields.Timeout(request.HasTimeout, request.Timeout, _options));
            stream = await _host.OpenStreamAsync(peer, protocols, timeout.Token).ConfigureAwait(false);
        }
        try
        {
            await connection.WriteAsync(new Response
            {
                Type = Response.Types.Type.Ok,
                StreamInfo = new StreamInfo
                {
                    Peer = ByteString.CopyFrom(peer.Bytes.Span),
                    Addr = ByteString.CopyFrom(stream.Connection.RemoteAddress.Bytes.Span),
                    Proto = stream.Protocol,
                },
            }, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            stream.Reset();
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        // From here on the control connection is the stream; the bridge closes both.
        await StreamBridge.RunAsync(connection, stream, cancellationToken).ConfigureAwait(false);
        return Outcome.HandedOver;
    }

    private void RegisterStreamHandler(StreamHandlerRequest request)
    {
        if (request.Balanced) throw new DaemonRequestException("balanced stream handlers are not supported");
        var address = RequestFields.Address(request.Addr, "addr");
        try
        {
            ControlEndpoint.ToEndPoint(address);
        }
        catch (ArgumentException e)
        {
            throw new DaemonRequestException($"invalid addr: {e.Message}", e);
        }
        _handlers.Register(RequestFields.Protocols(request.Proto, "proto"), address);
    }

    private Response PeerStore(PeerstoreRequest request)
    {
        if (!request.HasType) throw new DaemonRequestException("invalid request: peerStore type is missing");
        var peer = RequestFields.Peer(request.Id, "id");
        switch (request.Type)
        {
            case PeerstoreRequest.Types.Type.GetProtocols:
                var protocols = new PeerstoreResponse();
                protocols.Protos.AddRange(_host.PeerStore.GetProtocols(peer));
                return new Response { Type = Response.Types.Type.Ok, PeerStore = protocols };
            case PeerstoreRequest.Types.Type.GetPeerInfo:
                return new Response
                {
                    Type = Response.Types.Type.Ok,
                    PeerStore = new PeerstoreResponse { Peer = Responses.PeerInfo(peer, _host.PeerStore.GetAddresses(peer)) },
                };
            default:
                throw new DaemonRequestException($"unknown peerStore request type {(int)request.Type}");
        }
    }

    private async Task ConnManagerAsync(ConnManagerRequest request, CancellationToken cancellationToken)
    {
        if (!request.HasType) throw new DaemonRequestException("invalid request: connManager type is missing");
        switch (request.Type)
        {
            case ConnManagerRequest.Types.Type.TagPeer:
                {
                    var peer = RequestFields.Peer(request.Peer, "peer");
                    int weight = (int)Math.Clamp(request.Weight, int.MinValue, int.MaxValue);
                    _host.ConnectionManager.TagPeer(peer, Tag(request), weight);
                    return;
                }
            case ConnManagerRequest.Types.Type.UntagPeer:
                _host.ConnectionManager.UntagPeer(RequestFields.Peer(request.Peer, "peer"), Tag(request));
                return;
            case ConnManagerRequest.Types.Type.Trim:
                using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                {
                    timeout.CancelAfter(_options.DefaultOperationTimeout);
                    await _host.ConnectionManager.TrimAsync(timeout.Token).ConfigureAwait(false);
                }
                return;
            default:
                throw new DaemonRequestException($"unknown connManager request type {(int)request.Type}");
        }
    }

    private string Tag(ConnManagerRequest request)
    {
        if (!request.HasTag || request.Tag.Length == 0) throw new DaemonRequestException("invalid request: tag is missing");
        if (request.Tag.Length > _options.MaxTagLength) throw new DaemonRequestException($"invalid tag: longer than {_options.MaxTagLength} characters");
        return request.Tag;
    }
}
