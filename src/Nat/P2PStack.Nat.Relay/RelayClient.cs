using Google.Protobuf;
using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Nat.Relay.Pb;
using P2PStack.Network;

namespace P2PStack.Nat.Relay;

/// <summary>A reservation we hold on a relay.</summary>
/// <param name="Addresses">The relay's addresses with its /p2p (without /p2p-circuit), as the relay sent them.</param>
/// <param name="Voucher">The verified voucher, if the relay sent one.</param>
public sealed record RelayReservation(PeerId Relay, DateTimeOffset Expire, IReadOnlyList<Multiaddr> Addresses, ReservationVoucher? Voucher,
    RelayLimit Limit)
{
    /// <summary>Our addresses through this relay: each relay address + /p2p-circuit (the /p2p of the node is added by
    /// whoever shares them).</summary>
    public IReadOnlyList<Multiaddr> CircuitAddresses => [.. Addresses.Select(a => a.Encapsulate("/p2p-circuit"))];
}

/// <summary>
/// Client side of the hop protocol: reservations (<see cref="ReserveAsync"/>) and relayed connection requests
/// (<see cref="ConnectAsync"/>, whose stream then carries the relayed connection). Everything a relay answers is
/// checked: status, a reservation that expires in the future, a voucher signed by the relay for us, sane limits.
/// </summary>
public sealed class RelayClient
{
    private readonly IPeerHost _host;
    private readonly RelayClientOptions _options;
    private readonly RelayMetrics? _metrics;
    private readonly TimeProvider _time;

    public RelayClient(IPeerHost host, IOptions<RelayClientOptions> options, RelayMetrics? metrics = null, TimeProvider? timeProvider = null)
    {
        _host = host;
        _options = options.Value;
        _options.Validate();
        _metrics = metrics;
        _time = timeProvider ?? TimeProvider.System;
    }

    public RelayClientOptions Options => _options;

    /// <summary>Makes or refreshes a reservation on <paramref name="relay"/> (over a connection to it, dialed if needed).</summary>
    /// <exception cref="RelayRefusedException">The relay refused (RESERVATION_REFUSED, PERMISSION_DENIED, ...).</exception>
    /// <exception cref="RelayFormatException">The answer is malformed, or the relay lies (past expiry, bad voucher).</exception>
    public async Task<RelayReservation> ReserveAsync(PeerId relay, CancellationToken cancellationToken) =>
        await ReserveAsync(await DirectAsync(relay, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);

    /// <summary>Makes or refreshes a reservation over this (direct) connection to the relay: the reservation lives as
    /// long as the connection.</summary>
    /// <exception cref="TimeoutException">The request took longer than <see cref="RelayClientOptions.RequestTimeout"/>.</exception>
    public Task<RelayReservation> ReserveAsync(IConnection relay, CancellationToken cancellationToken) =>
        WithinRequestTimeoutAsync($"a reservation on relay {relay.RemotePeer}", token => ReserveWithinAsync(relay, token), cancellationToken);

    private async Task<RelayReservation> ReserveWithinAsync(IConnection relay, CancellationToken cancellationToken)
    {
        var stream = await relay.OpenStreamAsync([RelayProtocol.Hop], cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            await ProtobufFraming.WriteAsync(stream.Output, new HopMessage { Type = HopMessage.Types.Type.Reserve }, cancellationToken).ConfigureAwait(false);
            await stream.Output.CompleteAsync().ConfigureAwait(false);
            var answer = await ReadAnswerAsync(stream, "reservation", cancellationToken).ConfigureAwait(false);
            try
            {
                var reservation = Parse(relay.RemotePeer, answer);
                _metrics?.ClientReservation("ok");
                return reservation;
            }
            catch (RelayFormatException)
            {
                _metrics?.ClientReservation("malformed");
                throw;
            }
        }
    }

    /// <summary>Checks a reservation answer (exposed for tests of hostile relays).</summary>
    internal RelayReservation Parse(PeerId relay, HopMessage answer)
    {
        if (answer.Reservation is not { } reservation || !reservation.HasExpire)
            throw new RelayFormatException("reservation: STATUS OK without a reservation");
        var now = _time.GetUtcNow();
        if (reservation.Expire > (ulong)DateTimeOffset.MaxValue.ToUnixTimeSeconds())
            throw new RelayFormatException("reservation: expiry out of range");
        var expire = DateTimeOffset.FromUnixTimeSeconds((long)reservation.Expire);
        if (expire - now < _options.MinReservationLifetime)
        {
            _metrics?.ClientError("short_reservation");
            throw new RelayFormatException($"reservation: expires at {expire:u}, less than {_options.MinReservationLifetime} from now");
        }
        ReservationVoucher? voucher = null;
        if (reservation.HasVoucher)
        {
            try
            {
                voucher = ReservationVoucher.Open(reservation.Voucher.Span, relay, _host.PeerId);
            }
            catch (RelayFormatException)
            {
                _metrics?.ClientError("bad_voucher");
                throw;
            }
        }
        var addresses = new List<Multiaddr>();
        foreach (var bytes in reservation.Addrs.Take(32))
        {
            if (!Multiaddr.TryDecode(bytes.Span, out var address) || AddressScope.IsRelayed(address)) continue;
            var named = address.GetPeerId();
            if (named is null) address = address.Encapsulate($"/p2p/{relay}");
            else if (!named.Equals(relay)) continue; // an address of someone else: not the relay's to give
            addresses.Add(address);
        }
        return new RelayReservation(relay, expire, addresses, voucher, RelayLimit.FromWire(answer.Limit, _options.DurationMillisecondsThreshold));
    }

    /// <summary>Asks <paramref name="relay"/> to connect us to <paramref name="target"/>; returns the hop stream, which
    /// carries the relayed connection from now on, and the limits the relay applies to it.</summary>
    /// <exception cref="RelayRefusedException">NO_RESERVATION, RESOURCE_LIMIT_EXCEEDED, CONNECTION_FAILED, ...</exception>
    public async Task<(IStream Stream, RelayLimit Limit)> ConnectAsync(PeerId relay, PeerId target, CancellationToken cancellationToken) =>
        await ConnectAsync(await DirectAsync(relay, cancellationToken).ConfigureAwait(false), target, cancellationToken).ConfigureAwait(false);

    /// <summary>Like <see cref="ConnectAsync(PeerId, PeerId, CancellationToken)"/> over this connection to the relay.</summary>
    /// <exception cref="TimeoutException">The request took longer than <see cref="RelayClientOptions.RequestTimeout"/>.</exception>
    public Task<(IStream Stream, RelayLimit Limit)> ConnectAsync(IConnection relay, PeerId target, CancellationToken cancellationToken) =>
        WithinRequestTimeoutAsync($"a connect to {target} through relay {relay.RemotePeer}", token => ConnectWithinAsync(relay, target, token),
            cancellationToken);

    private async Task<(IStream Stream, RelayLimit Limit)> ConnectWithinAsync(IConnection relay, PeerId target, CancellationToken cancellationToken)
    {
        var stream = await relay.OpenStreamAsync([RelayProtocol.Hop], cancellationToken).ConfigureAwait(false);
        try
        {
            await ProtobufFraming.WriteAsync(stream.Output, new HopMessage
            {
                Type = HopMessage.Types.Type.Connect,
                Peer = new Peer { Id = ByteString.CopyFrom(target.Bytes.Span) },
            }, cancellationToken).ConfigureAwait(false);
            var answer = await ReadAnswerAsync(stream, "connect", cancellationToken).ConfigureAwait(false);
            return (stream, RelayLimit.FromWire(answer.Limit, _options.DurationMillisecondsThreshold));
        }
        catch
        {
            stream.Reset();
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>A direct connection to the relay: circuits are never stacked on circuits.</summary>
    private Task<IConnection> DirectAsync(PeerId relay, CancellationToken cancellationToken) =>
        WithinRequestTimeoutAsync($"dialing relay {relay}",
            async token => await _host.DialAsync(relay, new DialOptions { ForceDirect = true }, token).ConfigureAwait(false), cancellationToken);

    /// <summary>Runs a request within <see cref="RelayClientOptions.RequestTimeout"/>; its expiry is a
    /// <see cref="TimeoutException"/> naming the option, not a cancellation (nobody cancelled).</summary>
    private async Task<T> WithinRequestTimeoutAsync<T>(string what, Func<CancellationToken, Task<T>> request, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.RequestTimeout);
        try
        {
            return await request(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException ex) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException(
                $"{what} took longer than RelayClientOptions.RequestTimeout ({_options.RequestTimeout.TotalSeconds:0.###} s)", ex);
        }
    }

    private async Task<HopMessage> ReadAnswerAsync(IStream stream, string what, CancellationToken cancellationToken)
    {
        HopMessage answer;
        try
        {
            answer = await ProtobufFraming.ReadAsync(stream.Input, HopMessage.Parser, RelayProtocol.MaxMessageSize,
                (reason, inner) => new RelayFormatException($"{what}: {reason}", inner), cancellationToken).ConfigureAwait(false);
        }
        catch (RelayFormatException)
        {
            _metrics?.ClientError("malformed");
            throw;
        }
        if (!answer.HasType || answer.Type != HopMessage.Types.Type.Status || !answer.HasStatus)
        {
            _metrics?.ClientError("malformed");
            throw new RelayFormatException($"{what}: expected a STATUS answer");
        }
        if (answer.Status != Status.Ok)
        {
            if (what == "reservation") _metrics?.ClientReservation("refused");
            throw new RelayRefusedException(answer.Status, $"the relay's {what}");
        }
        return answer;
    }
}
