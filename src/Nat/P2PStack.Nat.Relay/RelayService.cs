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
/// The relay service: serves <c>/libp2p/circuit/relay/0.2.0/hop</c>. RESERVE grants (or refreshes) a reservation with
/// an expiry, the relay's addresses, a signed voucher and the limits; CONNECT opens a stop stream to a peer holding a
/// reservation and splices it with the initiator's hop stream under those limits. Neither is accepted over a relayed
/// connection. Limits on reservations (total, per IP) and circuits (total, per peer) refuse with the spec's codes.
/// </summary>
public sealed partial class RelayService : IProtocolHandler
{
    private const string ProtectTag = "relay-reservation";
    private readonly IPeerHost _host;
    private readonly ILocalIdentity _identity;
    private readonly RelayServiceOptions _options;
    private readonly ReservationTable _reservations;
    private readonly CircuitTable _circuits;
    private readonly RelayMetrics? _metrics;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;

    public RelayService(IPeerHost host, ILocalIdentity identity, IOptions<RelayServiceOptions> options, RelayMetrics? metrics = null,
        ILogger<RelayService>? logger = null, TimeProvider? timeProvider = null)
    {
        _host = host;
        _identity = identity;
        _options = options.Value;
        _options.Validate();
        _time = timeProvider ?? TimeProvider.System;
        _reservations = new ReservationTable(_options, _time);
        _circuits = new CircuitTable(_options);
        _metrics = metrics;
        _metrics?.ObserveService(() => _reservations.Count, () => _circuits.Count);
        _logger = logger ?? NullLogger<RelayService>.Instance;
        Protocols = _options.Enabled ? [RelayProtocol.Hop] : [];
    }

    public IReadOnlyList<string> Protocols { get; }

    /// <summary>Reservations held now.</summary>
    public int ReservationCount => _reservations.Count;

    /// <summary>Relayed connections open now.</summary>
    public int CircuitCount => _circuits.Count;

    public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
    {
        await using (stream.ConfigureAwait(false))
        {
            HopMessage request;
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                timeout.CancelAfter(_options.HandshakeTimeout);
                try
                {
                    request = await ProtobufFraming.ReadAsync(stream.Input, HopMessage.Parser, RelayProtocol.MaxMessageSize,
                        (reason, inner) => new RelayFormatException($"hop: {reason}", inner), timeout.Token).ConfigureAwait(false);
                }
                catch (RelayFormatException ex)
                {
                    LogMalformed(stream.Connection.RemotePeer, ex.Message);
                    _metrics?.Reservation("malformed");
                    await AnswerAsync(stream, Status.MalformedMessage, null, timeout.Token).ConfigureAwait(false);
                    return;
                }
                if (!request.HasType)
                {
                    _metrics?.Reservation("malformed");
                    await AnswerAsync(stream, Status.MalformedMessage, null, timeout.Token).ConfigureAwait(false);
                    return;
                }
                if (request.Type == HopMessage.Types.Type.Reserve)
                {
                    await ReserveAsync(stream, timeout.Token).ConfigureAwait(false);
                    return;
                }
                if (request.Type != HopMessage.Types.Type.Connect)
                {
                    _metrics?.Circuit("malformed");
                    await AnswerAsync(stream, Status.UnexpectedMessage, null, timeout.Token).ConfigureAwait(false);
                    return;
                }
            }
            await ConnectAsync(stream, request, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task ReserveAsync(IStream stream, CancellationToken cancellationToken)
    {
        var connection = stream.Connection;
        var peer = connection.RemotePeer;
        if (!connection.IsDirect || AddressScope.IsRelayed(connection.RemoteAddress))
        {
            _metrics?.Reservation("refused_relayed");
            await AnswerAsync(stream, Status.PermissionDenied, null, cancellationToken).ConfigureAwait(false);
            return;
        }
        if (!_reservations.TryReserve(peer, connection, out var expire, out bool isNew, out string? refusal))
        {
            _metrics?.Reservation(refusal!);
            LogReservationRefused(peer, refusal!);
            await AnswerAsync(stream, Status.ReservationRefused, null, cancellationToken).ConfigureAwait(false);
            return;
        }
        _host.ConnectionManager.Protect(peer, ProtectTag);
        var reservation = new Reservation
        {
            Expire = (ulong)expire.ToUnixTimeSeconds(),
            Voucher = ByteString.CopyFrom(new ReservationVoucher(_host.PeerId, peer, expire).Seal(_identity.PrivateKey)),
        };
        foreach (var address in RelayAddresses())
            reservation.Addrs.Add(ByteString.CopyFrom(address.Bytes.Span));
        var answer = new HopMessage { Type = HopMessage.Types.Type.Status, Status = Status.Ok, Reservation = reservation };
        if (_options.Limit.ToWire() is { } limit) answer.Limit = limit;
        await ProtobufFraming.WriteAsync(stream.Output, answer, cancellationToken).ConfigureAwait(false);
        await stream.Output.CompleteAsync().ConfigureAwait(false);
        _metrics?.Reservation("ok");
        LogReserved(peer, expire);
        if (isNew) _ = UnprotectWhenGoneAsync(peer, connection); // ends with the connection; never throws
    }

    /// <summary>The relay's own public addresses with its /p2p, as reservations carry them.</summary>
    public IReadOnlyList<Multiaddr> RelayAddresses() =>
        [.. _host.AdvertisedAddresses
            .Where(a => !AddressScope.IsRelayed(a) && (_options.AllowPrivateAddresses || AddressScope.IsPublic(a)))
            .Select(a => a.Encapsulate($"/p2p/{_host.PeerId}"))];

    private async Task UnprotectWhenGoneAsync(PeerId peer, IConnection connection)
    {
        try
        {
            await connection.Completion.ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // closed with an error: gone all the same
        }
        if (_reservations.Find(peer) is not { } current || current == connection)
        {
            _reservations.Remove(peer);
            _host.ConnectionManager.Unprotect(peer, ProtectTag);
        }
    }

    private async Task ConnectAsync(IStream stream, HopMessage request, CancellationToken cancellationToken)
    {
        var source = stream.Connection.RemotePeer;
        PeerId? target;
        IDisposable? slot;
        IStream? stop = null;
        using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            timeout.CancelAfter(_options.HandshakeTimeout);
            if (!stream.Connection.IsDirect || AddressScope.IsRelayed(stream.Connection.RemoteAddress))
            {
                _metrics?.Circuit("refused_relayed");
                await AnswerAsync(stream, Status.PermissionDenied, null, timeout.Token).ConfigureAwait(false);
                return;
            }
            if (request.Peer is null || !request.Peer.HasId || !PeerIds.TryFromBytes(request.Peer.Id.Span, out target))
            {
                _metrics?.Circuit("malformed");
                await AnswerAsync(stream, Status.MalformedMessage, null, timeout.Token).ConfigureAwait(false);
                return;
            }
            var targetConnection = _reservations.Find(target!);
            if (targetConnection is null)
            {
                _metrics?.Circuit("no_reservation");
                await AnswerAsync(stream, Status.NoReservation, null, timeout.Token).ConfigureAwait(false);
                return;
            }
            slot = _circuits.TryOpen(source, target!);
            if (slot is null)
            {
                _metrics?.Circuit("resource_limit");
                await AnswerAsync(stream, Status.ResourceLimitExceeded, null, timeout.Token).ConfigureAwait(false);
                return;
            }
            try
            {
                stop = await OpenStopAsync(targetConnection, source, timeout.Token).ConfigureAwait(false);
                var answer = new HopMessage { Type = HopMessage.Types.Type.Status, Status = Status.Ok };
                if (_options.Limit.ToWire() is { } limit) answer.Limit = limit;
                await ProtobufFraming.WriteAsync(stream.Output, answer, timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException && !cancellationToken.IsCancellationRequested)
            {
                slot.Dispose();
                if (stop is not null) await stop.DisposeAsync().ConfigureAwait(false);
                _metrics?.Circuit("connection_failed");
                LogConnectFailed(source, target!, ex.Message);
                if (ex is not IOException || stop is null) await TryAnswerAsync(stream, Status.ConnectionFailed, timeout.Token).ConfigureAwait(false);
                return;
            }
        }
        _metrics?.Circuit("ok");
        using (slot)
        {
            await using (stop.ConfigureAwait(false))
            {
                var end = await CircuitSplice.RunAsync(stream, stop, _options.EnforceLimits ? _options.Limit : RelayLimit.None, bytes => _metrics?.Relayed(bytes), cancellationToken)
                    .ConfigureAwait(false);
                _metrics?.CircuitClosed(end switch
                {
                    CircuitEnd.Done => "done",
                    CircuitEnd.DurationLimit => "duration_limit",
                    CircuitEnd.DataLimit => "data_limit",
                    _ => "reset",
                });
                LogCircuitEnded(source, target!, end);
            }
        }
    }

    /// <summary>Opens the stop stream to the target and has it accept; throws when it does not.</summary>
    private async Task<IStream> OpenStopAsync(IConnection target, PeerId source, CancellationToken cancellationToken)
    {
        var stop = await target.OpenStreamAsync([RelayProtocol.Stop], cancellationToken).ConfigureAwait(false);
        try
        {
            var connect = new StopMessage
            {
                Type = StopMessage.Types.Type.Connect,
                Peer = new Peer { Id = ByteString.CopyFrom(source.Bytes.Span) },
            };
            if (_options.Limit.ToWire() is { } limit) connect.Limit = limit;
            await ProtobufFraming.WriteAsync(stop.Output, connect, cancellationToken).ConfigureAwait(false);
            var answer = await ProtobufFraming.ReadAsync(stop.Input, StopMessage.Parser, RelayProtocol.MaxMessageSize,
                (reason, inner) => new RelayFormatException($"stop answer: {reason}", inner), cancellationToken).ConfigureAwait(false);
            if (!answer.HasType || answer.Type != StopMessage.Types.Type.Status)
                throw new RelayFormatException("stop answer: expected STATUS");
            if (!answer.HasStatus || answer.Status != Status.Ok) throw new RelayRefusedException(answer.HasStatus ? answer.Status : Status.Unused, "the target");
            return stop;
        }
        catch
        {
            stop.Reset();
            await stop.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task AnswerAsync(IStream stream, Status status, Limit? limit, CancellationToken cancellationToken)
    {
        var answer = new HopMessage { Type = HopMessage.Types.Type.Status, Status = status };
        if (limit is not null) answer.Limit = limit;
        await ProtobufFraming.WriteAsync(stream.Output, answer, cancellationToken).ConfigureAwait(false);
        await stream.Output.CompleteAsync().ConfigureAwait(false);
    }

    private static async Task TryAnswerAsync(IStream stream, Status status, CancellationToken cancellationToken)
    {
        try
        {
            await AnswerAsync(stream, status, null, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException)
        {
            // the initiator went away
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Relay: malformed hop request from {Peer}: {Reason}")]
    private partial void LogMalformed(PeerId peer, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Relay: reservation of {Peer} refused ({Reason})")]
    private partial void LogReservationRefused(PeerId peer, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Relay: {Peer} reserved until {Expire}")]
    private partial void LogReserved(PeerId peer, DateTimeOffset expire);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Relay: connecting {Source} to {Target} failed: {Reason}")]
    private partial void LogConnectFailed(PeerId source, PeerId target, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Relay: circuit {Source} -> {Target} ended: {End}")]
    private partial void LogCircuitEnded(PeerId source, PeerId target, CircuitEnd end);
}
