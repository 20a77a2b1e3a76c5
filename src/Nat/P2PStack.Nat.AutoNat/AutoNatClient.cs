using System.Collections.Concurrent;
using System.Security.Cryptography;
using Google.Protobuf;
using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;
using V1 = P2PStack.Nat.AutoNat.Pb.V1;
using V2 = P2PStack.Nat.AutoNat.Pb.V2;

namespace P2PStack.Nat.AutoNat;

/// <summary>What one server said about one address.</summary>
/// <param name="Address">The address the server dialed (v2: the one at <c>addrIdx</c>; v1: the one it reports).</param>
/// <param name="Reachable">True when the dial back reached us (v2: with our nonce), false when it failed.</param>
public sealed record AutoNatProbeResult(PeerId Server, int Version, Multiaddr? Address, bool Reachable, IReadOnlyList<Multiaddr> Tested);

/// <summary>
/// AutoNAT client: asks one server to dial us back on some of our addresses. v2 (<see cref="ProbeV2Async"/>) tests
/// one address per request, pays the dial data the server asks (up to <see cref="AutoNatOptions.MaxDialDataBytes"/>)
/// and trusts a success only when the server's dial back delivered our nonce; v1 (<see cref="ProbeV1Async"/>) is for
/// older servers. Also serves <c>/libp2p/autonat/2/dial-back</c>, where the nonces arrive.
/// </summary>
public sealed class AutoNatClient : IProtocolHandler
{
    private static readonly ByteString DialDataChunk = ByteString.CopyFrom(new byte[AutoNatProtocol.DialDataChunk]);
    private readonly IPeerHost _host;
    private readonly AutoNatOptions _options;
    private readonly AutoNatMetrics? _metrics;
    private readonly ConcurrentDictionary<ulong, TaskCompletionSource<Multiaddr>> _nonces = new();

    public AutoNatClient(IPeerHost host, IOptions<AutoNatOptions> options, AutoNatMetrics? metrics = null)
    {
        _host = host;
        _options = options.Value;
        _options.Validate();
        _metrics = metrics;
    }

    /// <summary>The dial-back protocol: the client side of v2 serves it.</summary>
    public IReadOnlyList<string> Protocols { get; } = [AutoNatProtocol.V2DialBack];

    /// <summary>Receives a nonce on a dial-back connection and confirms it.</summary>
    public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
    {
        await using (stream.ConfigureAwait(false))
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.DialBackTimeout);
            V2.DialBack message;
            try
            {
                message = await ProtobufFraming.ReadAsync(stream.Input, V2.DialBack.Parser, 64,
                    (reason, inner) => new AutoNatFormatException($"autonat v2 dial back: {reason}", inner), timeout.Token).ConfigureAwait(false);
            }
            catch (AutoNatFormatException)
            {
                stream.Reset();
                return;
            }
            if (!_nonces.TryGetValue(message.Nonce, out var waiter))
            {
                stream.Reset(); // not a nonce of ours: a stray or forged dial back
                return;
            }
            await ProtobufFraming.WriteAsync(stream.Output, new V2.DialBackResponse { Status = V2.DialBackResponse.Types.DialBackStatus.Ok },
                timeout.Token).ConfigureAwait(false);
            await stream.Output.CompleteAsync().ConfigureAwait(false);
            // The local address of the connection the nonce came on: the server really dialed that transport.
            waiter.TrySetResult(stream.Connection.LocalAddress);
        }
    }

    /// <summary>AutoNAT v2: asks <paramref name="server"/> to dial the first of <paramref name="addresses"/> it can.</summary>
    /// <exception cref="AutoNatRefusedException">The server refused the request or could dial none of the addresses.</exception>
    /// <exception cref="AutoNatDialDataRefusedException">The server asked for more dial data than allowed.</exception>
    /// <exception cref="AutoNatFormatException">The server's answer was malformed or lied (success without our nonce).</exception>
    public async Task<AutoNatProbeResult> ProbeV2Async(PeerId server, IReadOnlyList<Multiaddr> addresses, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfZero(addresses.Count);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ProbeTimeout);
        ulong nonce = BitConverter.ToUInt64(RandomNumberGenerator.GetBytes(8));
        var dialedBack = new TaskCompletionSource<Multiaddr>(TaskCreationOptions.RunContinuationsAsynchronously);
        _nonces[nonce] = dialedBack;
        try
        {
            var stream = await _host.OpenStreamAsync(server, [AutoNatProtocol.V2DialRequest], timeout.Token).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                var request = new V2.DialRequest { Nonce = nonce };
                request.Addrs.AddRange(addresses.Select(a => ByteString.CopyFrom(a.Bytes.Span)));
                await ProtobufFraming.WriteAsync(stream.Output, new V2.Message { DialRequest = request }, timeout.Token).ConfigureAwait(false);
                while (true)
                {
                    var message = await ReadV2Async(stream, timeout.Token).ConfigureAwait(false);
                    if (message.MsgCase == V2.Message.MsgOneofCase.DialDataRequest)
                    {
                        await SendDialDataAsync(stream, message.DialDataRequest, addresses.Count, timeout.Token).ConfigureAwait(false);
                        continue;
                    }
                    if (message.MsgCase != V2.Message.MsgOneofCase.DialResponse)
                        throw Malformed(2, $"autonat v2: expected DialResponse, got {message.MsgCase}");
                    return await ResultAsync(server, message.DialResponse, addresses, dialedBack.Task, timeout.Token).ConfigureAwait(false);
                }
            }
        }
        finally
        {
            _nonces.TryRemove(nonce, out _);
        }
    }

    private async Task SendDialDataAsync(IStream stream, V2.DialDataRequest ask, int addressCount, CancellationToken cancellationToken)
    {
        if (ask.AddrIdx >= addressCount) throw Malformed(2, $"autonat v2: dial data asked for address {ask.AddrIdx} of {addressCount}");
        if (ask.NumBytes > (ulong)_options.MaxDialDataBytes)
        {
            stream.Reset(); // the spec's way to decline the cost
            _metrics?.Probed(2, "dial_data_refused");
            throw new AutoNatDialDataRefusedException(ask.NumBytes, _options.MaxDialDataBytes);
        }
        var chunk = new V2.Message { DialDataResponse = new V2.DialDataResponse { Data = DialDataChunk } };
        for (ulong sent = 0; sent < ask.NumBytes; sent += AutoNatProtocol.DialDataChunk)
            IO.LengthPrefixed.WriteMessage(stream.Output, chunk);
        var flushed = await stream.Output.FlushAsync(cancellationToken).ConfigureAwait(false);
        if (flushed.IsCompleted) throw new IOException("the AutoNAT server stopped reading");
    }

    private async Task<AutoNatProbeResult> ResultAsync(PeerId server, V2.DialResponse response, IReadOnlyList<Multiaddr> addresses,
        Task<Multiaddr> dialedBack, CancellationToken cancellationToken)
    {
        switch (response.Status)
        {
            case V2.DialResponse.Types.ResponseStatus.Ok:
                break;
            case V2.DialResponse.Types.ResponseStatus.EDialRefused or V2.DialResponse.Types.ResponseStatus.ERequestRejected
                or V2.DialResponse.Types.ResponseStatus.EInternalError:
                _metrics?.Probed(2, "refused");
                throw new AutoNatRefusedException(response.Status.ToString(), null);
            default:
                throw Malformed(2, $"autonat v2: unknown response status {(int)response.Status}"); // MUST discard unknown ones
        }
        if (response.AddrIdx >= addresses.Count) throw Malformed(2, $"autonat v2: addrIdx {response.AddrIdx} of {addresses.Count} addresses");
        var address = addresses[(int)response.AddrIdx];
        switch (response.DialStatus)
        {
            case V2.DialStatus.Ok:
                // A success counts only if our nonce came back on a dial back; the server sends it before answering, but
                // the dial-back stream may be handled a moment after the answer arrives.
                try
                {
                    await dialedBack.WaitAsync(_options.DialBackTimeout, cancellationToken).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    _metrics?.Probed(2, "unverified");
                    throw Malformed(2, $"autonat v2: {server} reported a successful dial back to {address} but our nonce never arrived");
                }
                _metrics?.Probed(2, "public");
                return new AutoNatProbeResult(server, 2, address, true, [address]);
            case V2.DialStatus.EDialError:
                _metrics?.Probed(2, "private");
                return new AutoNatProbeResult(server, 2, address, false, [address]);
            case V2.DialStatus.EDialBackError:
                // Connected but could not deliver the nonce: not evidence either way.
                _metrics?.Probed(2, "error");
                throw new AutoNatRefusedException("E_DIAL_BACK_ERROR", $"the server reached {address} but the dial-back exchange failed");
            default:
                throw Malformed(2, $"autonat v2: unknown dial status {(int)response.DialStatus}");
        }
    }

    /// <summary>AutoNAT v1: asks <paramref name="server"/> to dial us back on <paramref name="addresses"/>.</summary>
    public async Task<AutoNatProbeResult> ProbeV1Async(PeerId server, IReadOnlyList<Multiaddr> addresses, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.ProbeTimeout);
        var stream = await _host.OpenStreamAsync(server, [AutoNatProtocol.V1], timeout.Token).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var peer = new V1.Message.Types.PeerInfo { Id = ByteString.CopyFrom(_host.PeerId.ToBytes()) };
            peer.Addrs.AddRange(addresses.Select(a => ByteString.CopyFrom(a.Bytes.Span)));
            await ProtobufFraming.WriteAsync(stream.Output, new V1.Message
            {
                Type = V1.Message.Types.MessageType.Dial,
                Dial = new V1.Message.Types.Dial { Peer = peer },
            }, timeout.Token).ConfigureAwait(false);
            await stream.Output.CompleteAsync().ConfigureAwait(false);
            var answer = await ProtobufFraming.ReadAsync(stream.Input, V1.Message.Parser, _options.MaxMessageSize,
                (reason, inner) => Malformed(1, $"autonat v1: {reason}", inner), timeout.Token).ConfigureAwait(false);
            if (answer.Type != V1.Message.Types.MessageType.DialResponse || answer.DialResponse is null || !answer.DialResponse.HasStatus)
                throw Malformed(1, "autonat v1: expected a DIAL_RESPONSE with a status");
            var response = answer.DialResponse;
            switch (response.Status)
            {
                case V1.Message.Types.ResponseStatus.Ok:
                    Multiaddr? dialed = response.HasAddr && Multiaddr.TryDecode(response.Addr.Span, out var a) ? a : null;
                    _metrics?.Probed(1, "public");
                    return new AutoNatProbeResult(server, 1, dialed, true, addresses);
                case V1.Message.Types.ResponseStatus.EDialError:
                    _metrics?.Probed(1, "private");
                    return new AutoNatProbeResult(server, 1, null, false, addresses);
                default:
                    _metrics?.Probed(1, "refused");
                    throw new AutoNatRefusedException(response.Status.ToString(), response.HasStatusText ? response.StatusText : null);
            }
        }
    }

    private Task<V2.Message> ReadV2Async(IStream stream, CancellationToken cancellationToken) =>
        ProtobufFraming.ReadAsync(stream.Input, V2.Message.Parser, _options.MaxMessageSize,
            (reason, inner) => Malformed(2, $"autonat v2: {reason}", inner), cancellationToken);

    private AutoNatFormatException Malformed(int version, string reason, Exception? inner = null)
    {
        _metrics?.Probed(version, "malformed");
        return new AutoNatFormatException(reason, inner);
    }
}
