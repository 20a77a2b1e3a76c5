using System.Collections.Concurrent;
using System.Threading.Channels;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Nat.Relay.Pb;
using P2PStack.Network;

namespace P2PStack.Nat.Relay;

/// <summary>
/// Circuit relay v2 as a transport (a virtual, proxy transport: its connections are streams of connections to
/// relays). Dialing <c>&lt;relay&gt;/p2p/R/p2p-circuit/p2p/T</c> asks relay R over a direct connection to connect us to T
/// (hop CONNECT); the hop stream then carries the connection, upgraded with Noise and Yamux like any other. It also
/// serves <c>/libp2p/circuit/relay/0.2.0/stop</c>: a relay we hold a reservation on hands us a connection from another
/// peer, which goes to the listener on <c>/p2p-circuit</c> (or on that relay's circuit address). Relayed connections
/// carry the relay's limits, so the host treats them as limited.
/// </summary>
public sealed partial class CircuitRelayTransport : ITransport, IProtocolHandler
{
    private readonly IPeerHost _host;
    private readonly RelayClient _client;
    private readonly RelayClientOptions _options;
    private readonly RelayMetrics? _metrics;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly ConcurrentDictionary<Multiaddr, Listener> _listeners = new();
    private readonly ConcurrentDictionary<PeerId, byte> _trustedRelays = new();

    public CircuitRelayTransport(IPeerHost host, RelayClient client, IOptions<RelayClientOptions> options, RelayMetrics? metrics = null,
        ILogger<CircuitRelayTransport>? logger = null, TimeProvider? timeProvider = null)
    {
        _time = timeProvider ?? TimeProvider.System;
        _host = host;
        _client = client;
        _options = options.Value;
        _metrics = metrics;
        _logger = logger ?? NullLogger<CircuitRelayTransport>.Instance;
    }

    /// <summary>The listen address that accepts relayed connections from every relay we hold a reservation on.</summary>
    public static Multiaddr AnyRelay { get; } = Multiaddr.Parse("/p2p-circuit");

    public string Name => "p2p-circuit";

    public bool IsProxy => true;

    public IReadOnlyList<string> Protocols { get; } = [RelayProtocol.Stop];

    /// <summary>Relayed connections are accepted only from relays we hold (or are making) a reservation on (unless
    /// <see cref="RelayClientOptions.AcceptFromAnyRelay"/>).</summary>
    public void TrustRelay(PeerId relay) => _trustedRelays[relay] = 0;

    public void ForgetRelay(PeerId relay) => _trustedRelays.TryRemove(relay, out _);

    /// <summary>A relayed address: <c>[transport address]/p2p/RELAY/p2p-circuit</c> (the target's /p2p split off by the host).</summary>
    public bool CanDial(Multiaddr address)
    {
        var components = address.Components;
        return components.Count >= 2 && components[^1].Protocol == MultiaddrProtocols.P2PCircuit
            && components[^2].Protocol == MultiaddrProtocols.P2P && components.Count(c => c.Protocol == MultiaddrProtocols.P2PCircuit) == 1;
    }

    /// <summary><c>/p2p-circuit</c> (any relay) or <c>[...]/p2p/RELAY/p2p-circuit</c> (that relay).</summary>
    public bool CanListen(Multiaddr address) => address.Equals(AnyRelay) || CanDial(address);

    public ValueTask<IRawConnection> DialAsync(Multiaddr address, CancellationToken cancellationToken) =>
        throw new ArgumentException($"a relayed dial needs the target peer: dial {address}/p2p/<target>", nameof(address));

    public async ValueTask<IRawConnection> DialAsync(Multiaddr address, PeerId? peer, DialOptions options, CancellationToken cancellationToken)
    {
        if (!CanDial(address)) throw new ArgumentException($"not a relayed address: {address}", nameof(address));
        if (peer is null) throw new ArgumentException($"a relayed dial needs the target peer: dial {address}/p2p/<target>", nameof(address));
        var relayAddress = address.DecapsulateCode(MultiaddrProtocols.P2PCircuit.Code);
        var relay = relayAddress.GetPeerId()!;
        if (relay.Equals(peer)) throw new ArgumentException("a relay cannot relay to itself", nameof(address));
        // A direct connection to the relay: never a circuit inside a circuit.
        var direct = new DialOptions { ForceDirect = true };
        var connection = relayAddress.Components.Count > 1
            ? await _host.DialAsync(relayAddress, direct, cancellationToken).ConfigureAwait(false)
            : await _host.DialAsync(relay, direct, cancellationToken).ConfigureAwait(false);
        var (stream, limit) = await _client.ConnectAsync(connection, peer, cancellationToken).ConfigureAwait(false);
        LogDialed(peer, relay, limit);
        var local = relayAddress.Encapsulate(AnyRelay);
        return new StreamRawConnection(Enforced(stream, limit, relay, peer), Direction.Outbound, local, address, limit.ToConnectionLimits());
    }

    public ValueTask<IListener> ListenAsync(Multiaddr address, CancellationToken cancellationToken)
    {
        if (!CanListen(address)) throw new ArgumentException($"the relay transport cannot listen on {address}", nameof(address));
        cancellationToken.ThrowIfCancellationRequested();
        var listener = new Listener(this, address);
        if (!_listeners.TryAdd(address, listener)) throw new IOException($"already listening on {address}");
        return ValueTask.FromResult<IListener>(listener);
    }

    /// <summary>The stop side: a relay hands us a connection from another peer.</summary>
    public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
    {
        var relay = stream.Connection.RemotePeer;
        StopMessage connect;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            timeout.CancelAfter(_options.RequestTimeout);
            try
            {
                connect = await ProtobufFraming.ReadAsync(stream.Input, StopMessage.Parser, RelayProtocol.MaxMessageSize,
                    (reason, inner) => new RelayFormatException($"stop: {reason}", inner), timeout.Token).ConfigureAwait(false);
            }
            catch (RelayFormatException ex)
            {
                _metrics?.ClientError("malformed");
                LogRefusedStop(relay, ex.Message);
                await TryAnswerAsync(stream, Status.MalformedMessage, timeout.Token).ConfigureAwait(false);
                return;
            }
            string? refusal = null;
            Status status = Status.Ok;
            PeerId? source = null;
            if (!connect.HasType || connect.Type != StopMessage.Types.Type.Connect)
                (status, refusal) = (Status.UnexpectedMessage, "not a CONNECT");
            else if (connect.Peer is null || !connect.Peer.HasId || !PeerIds.TryFromBytes(connect.Peer.Id.Span, out source))
                (status, refusal) = (Status.MalformedMessage, "no valid initiator peer id");
            else if (!(_options.AcceptFromAnyRelay || _trustedRelays.ContainsKey(relay)) || !stream.Connection.IsDirect)
                (status, refusal) = (Status.PermissionDenied, "not a relay we hold a reservation on");
            var listener = status == Status.Ok ? FindListener(stream.Connection) : null;
            if (status == Status.Ok && listener is null) (status, refusal) = (Status.ConnectionFailed, "not listening on /p2p-circuit");
            if (status != Status.Ok)
            {
                _metrics?.ClientError("unexpected_stop");
                LogRefusedStop(relay, refusal!);
                await TryAnswerAsync(stream, status, timeout.Token).ConfigureAwait(false);
                return;
            }
            await ProtobufFraming.WriteAsync(stream.Output, new StopMessage { Type = StopMessage.Types.Type.Status, Status = Status.Ok },
                timeout.Token).ConfigureAwait(false);
            var limit = RelayLimit.FromWire(connect.Limit, _options.DurationMillisecondsThreshold);
            var relayPart = RelayPart(stream.Connection);
            var connection = new StreamRawConnection(Enforced(stream, limit, relay, source!), Direction.Inbound, relayPart.Encapsulate(AnyRelay), relayPart.Encapsulate(AnyRelay),
                limit.ToConnectionLimits());
            if (!listener!.TryEnqueue(connection))
            {
                connection.Abort();
                return;
            }
            LogAccepted(source!, relay, limit);
            // The stream ends when this handler returns: hold it until the connection is done with it.
            using var abort = cancellationToken.Register(connection.Abort);
            await connection.Completion.ConfigureAwait(false);
        }
    }

    /// <summary>The relay's limits held on our side too (<see cref="LimitedRelayStream"/>).</summary>
    private IStream Enforced(IStream stream, RelayLimit limit, PeerId relay, PeerId peer)
    {
        if (limit.IsUnlimited) return stream;
        return new LimitedRelayStream(stream, limit, _options.LimitGrace, _time, reason =>
        {
            _metrics?.ClientError("limit_exceeded");
            LogLimitExceeded(peer, relay, reason);
        });
    }

    /// <summary>The relay's address with its /p2p, as seen on our connection to it.</summary>
    private static Multiaddr RelayPart(IConnection relayConnection) =>
        relayConnection.RemoteAddress.GetPeerId() is null
            ? relayConnection.RemoteAddress.Encapsulate($"/p2p/{relayConnection.RemotePeer}")
            : relayConnection.RemoteAddress;

    private Listener? FindListener(IConnection relayConnection)
    {
        foreach (var listener in _listeners.Values)
        {
            if (!listener.ListenAddress.Equals(AnyRelay) && listener.ListenAddress.DecapsulateCode(MultiaddrProtocols.P2PCircuit.Code).GetPeerId() is { } r
                && r.Equals(relayConnection.RemotePeer))
            {
                return listener;
            }
        }
        return _listeners.GetValueOrDefault(AnyRelay);
    }

    private static async Task TryAnswerAsync(IStream stream, Status status, CancellationToken cancellationToken)
    {
        try
        {
            await ProtobufFraming.WriteAsync(stream.Output, new StopMessage { Type = StopMessage.Types.Type.Status, Status = status }, cancellationToken)
                .ConfigureAwait(false);
            await stream.Output.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException)
        {
            // the relay went away
        }
    }

    private sealed class Listener(CircuitRelayTransport transport, Multiaddr address) : IListener
    {
        private readonly Channel<StreamRawConnection> _accepted = Channel.CreateBounded<StreamRawConnection>(64);

        public Multiaddr ListenAddress { get; } = address;

        public bool TryEnqueue(StreamRawConnection connection) => _accepted.Writer.TryWrite(connection);

        public async ValueTask<IRawConnection> AcceptAsync(CancellationToken cancellationToken)
        {
            try
            {
                return await _accepted.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ChannelClosedException e)
            {
                throw new ObjectDisposedException($"the listener on {ListenAddress} was closed", e);
            }
        }

        public ValueTask DisposeAsync()
        {
            transport._listeners.TryRemove(ListenAddress, out _);
            _accepted.Writer.TryComplete();
            while (_accepted.Reader.TryRead(out var pending)) pending.Abort();
            return ValueTask.CompletedTask;
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Relay: connected to {Peer} through {Relay} ({Limit})")]
    private partial void LogDialed(PeerId peer, PeerId relay, RelayLimit limit);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Relay: accepted a connection from {Peer} through {Relay} ({Limit})")]
    private partial void LogAccepted(PeerId peer, PeerId relay, RelayLimit limit);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Relay: ended the connection with {Peer} through {Relay}, which did not hold its announced limit: {Reason}")]
    private partial void LogLimitExceeded(PeerId peer, PeerId relay, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Relay: refused a stop request from {Relay}: {Reason}")]
    private partial void LogRefusedStop(PeerId relay, string reason);
}
