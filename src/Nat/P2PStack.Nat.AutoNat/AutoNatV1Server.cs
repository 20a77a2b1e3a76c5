using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Nat.AutoNat.Pb.V1;
using P2PStack.Network;
using Status = P2PStack.Nat.AutoNat.Pb.V1.Message.Types.ResponseStatus;

namespace P2PStack.Nat.AutoNat;

/// <summary>
/// Serves <c>/libp2p/autonat/1.0.0</c>: reads one DIAL, dials back the requested addresses that are on the IP the
/// request came from (never a third party's: the spec's amplification defence), over a new connection, and answers OK
/// with the address that worked or E_DIAL_ERROR. Requests over relayed connections, for another peer id, or beyond the
/// rate limits are refused.
/// </summary>
public sealed partial class AutoNatV1Server : IProtocolHandler
{
    private readonly IPeerHost _host;
    private readonly AutoNatOptions _options;
    private readonly RequestThrottle _throttle;
    private readonly AutoNatMetrics? _metrics;
    private readonly ILogger _logger;

    public AutoNatV1Server(IPeerHost host, IOptions<AutoNatOptions> options, AutoNatMetrics? metrics = null,
        ILogger<AutoNatV1Server>? logger = null, TimeProvider? timeProvider = null)
    {
        _host = host;
        _options = options.Value;
        _options.Validate();
        _throttle = new RequestThrottle(_options, timeProvider ?? TimeProvider.System);
        _metrics = metrics;
        _logger = logger ?? NullLogger<AutoNatV1Server>.Instance;
    }

    public IReadOnlyList<string> Protocols { get; } = [AutoNatProtocol.V1];

    public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
    {
        await using (stream.ConfigureAwait(false))
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.DialBackTimeout + _options.DialBackTimeout);
            Message request;
            try
            {
                request = await ProtobufFraming.ReadAsync(stream.Input, Message.Parser, _options.MaxMessageSize,
                    (reason, inner) => new AutoNatFormatException($"autonat v1: {reason}", inner), timeout.Token).ConfigureAwait(false);
            }
            catch (AutoNatFormatException ex)
            {
                _metrics?.Served(1, "bad_request");
                LogBadRequest(stream.Connection.RemotePeer, ex.Message);
                stream.Reset();
                return;
            }
            var response = await ServeAsync(stream.Connection, request, timeout.Token).ConfigureAwait(false);
            await ProtobufFraming.WriteAsync(stream.Output, response, timeout.Token).ConfigureAwait(false);
            await stream.Output.CompleteAsync().ConfigureAwait(false);
        }
    }

    private async Task<Message> ServeAsync(IConnection connection, Message request, CancellationToken cancellationToken)
    {
        var remote = connection.RemotePeer;
        if (!request.HasType || request.Type != Message.Types.MessageType.Dial || request.Dial?.Peer is null)
            return Answer(Status.EBadRequest, "expected a DIAL message with peer info", "bad_request");
        if (!request.Dial.Peer.HasId || !PeerIds.TryFromBytes(request.Dial.Peer.Id.Span, out var asked) || !asked!.Equals(remote))
            return Answer(Status.EBadRequest, "the peer id is not the requester's", "bad_request");
        if (!connection.IsDirect || AddressScope.IsRelayed(connection.RemoteAddress))
            return Answer(Status.EDialRefused, "requests over relayed connections are refused", "relayed");

        using var lease = _throttle.TryEnter(remote, out string? refusal);
        if (lease is null) return Answer(Status.EDialRefused, refusal, "refused_rate");

        var requested = new List<Multiaddr>();
        foreach (var bytes in request.Dial.Peer.Addrs.Take(_options.MaxAddressesPerRequest))
        {
            if (Multiaddr.TryDecode(bytes.Span, out var address)) requested.Add(address);
        }
        var (v4, v6) = Families();
        var targets = DialBackPolicy.SelectV1(requested, connection.RemoteAddress.GetIPAddress(), _options.MaxAddressesPerRequest,
            _options.AllowPrivateAddresses, v4, v6);
        if (targets.Count == 0)
        {
            LogRefusedAddresses(remote, requested.Count);
            return Answer(Status.EDialRefused, "no dialable address on the requester's IP", "refused_address");
        }
        foreach (var target in targets)
        {
            using var dial = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            dial.CancelAfter(_options.DialBackTimeout);
            try
            {
                var address = target.GetPeerId() is null ? target.Encapsulate($"/p2p/{remote}") : target;
                var dialed = await _host.DialAsync(address, new DialOptions { ForceNewConnection = true }, dial.Token).ConfigureAwait(false);
                await dialed.CloseAsync(cancellationToken).ConfigureAwait(false);
                _metrics?.Served(1, "dial_ok");
                return new Message
                {
                    Type = Message.Types.MessageType.DialResponse,
                    DialResponse = new Message.Types.DialResponse { Status = Status.Ok, Addr = ByteString.CopyFrom(target.Bytes.Span) },
                };
            }
            catch (Exception ex) when (ex is not OutOfMemoryException && !cancellationToken.IsCancellationRequested)
            {
                LogDialBackFailed(remote, target, ex.Message);
            }
        }
        return Answer(Status.EDialError, "dial back failed", "dial_error");
    }

    private (bool IPv4, bool IPv6) Families()
    {
        bool v4 = false, v6 = false;
        foreach (var address in _host.ListenAddresses)
        {
            v4 |= address.Has(MultiaddrProtocols.Ip4);
            v6 |= address.Has(MultiaddrProtocols.Ip6);
        }
        return (v4 || !v6, v6);
    }

    private Message Answer(Status status, string? text, string metric)
    {
        _metrics?.Served(1, metric);
        var response = new Message.Types.DialResponse { Status = status };
        if (text is not null) response.StatusText = text;
        return new Message { Type = Message.Types.MessageType.DialResponse, DialResponse = response };
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "AutoNAT v1: malformed request from {Peer}: {Reason}")]
    private partial void LogBadRequest(PeerId peer, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "AutoNAT v1: none of the {Count} addresses of {Peer} may be dialed")]
    private partial void LogRefusedAddresses(PeerId peer, int count);

    [LoggerMessage(Level = LogLevel.Debug, Message = "AutoNAT v1: dial back to {Peer} at {Address} failed: {Reason}")]
    private partial void LogDialBackFailed(PeerId peer, Multiaddr address, string reason);
}
