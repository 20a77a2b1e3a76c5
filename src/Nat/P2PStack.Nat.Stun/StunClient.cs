using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace P2PStack.Nat.Stun;

/// <summary>What a Binding transaction learnt.</summary>
/// <param name="Mapped">The address and port the server saw the request come from: the public mapping.</param>
/// <param name="ResponseOrigin">Where the server says it answered from (RFC 5780), if it says.</param>
/// <param name="OtherAddress">The server's alternate address for behaviour discovery (RFC 5780), if it has one.</param>
/// <param name="ReceivedFrom">Where the response really came from.</param>
/// <param name="RoundTrip">From the first request sent to the response.</param>
/// <param name="Transmissions">Requests sent (1 when the first one was answered).</param>
public sealed record StunBindingResult(IPEndPoint Mapped, IPEndPoint? ResponseOrigin, IPEndPoint? OtherAddress, IPEndPoint ReceivedFrom,
    string? Software, TimeSpan RoundTrip, int Transmissions);

/// <summary>
/// STUN Binding client over UDP (RFC 8489 section 6.2.1 and 6.3): sends a request, retransmits with a doubling
/// timeout, matches the response by transaction id, and ignores unrelated or malformed datagrams (counted). Runs on
/// a socket the caller owns, since the mapping learnt is that socket's.
/// </summary>
public sealed partial class StunClient
{
    private static readonly HashSet<ushort> Understood =
    [
        StunAttributeType.MappedAddress, StunAttributeType.XorMappedAddress, StunAttributeType.ErrorCode,
        StunAttributeType.UnknownAttributes, StunAttributeType.Username, StunAttributeType.MessageIntegrity,
        StunAttributeType.MessageIntegritySha256, StunAttributeType.Realm, StunAttributeType.Nonce,
        StunAttributeType.ChangeRequest, StunAttributeType.Padding, StunAttributeType.ResponsePort,
        0x0004, 0x0005, // SOURCE-ADDRESS and CHANGED-ADDRESS of RFC 3489: servers may still add them; we read OTHER-ADDRESS
    ];

    private readonly StunClientOptions _options;
    private readonly StunMetrics? _metrics;
    private readonly ILogger _logger;

    public StunClient(IOptions<StunClientOptions> options, StunMetrics? metrics = null, ILogger<StunClient>? logger = null)
    {
        _options = options.Value;
        _options.Validate();
        _metrics = metrics;
        _logger = logger ?? NullLogger<StunClient>.Instance;
    }

    public StunClientOptions Options => _options;

    /// <summary>Runs one Binding transaction on <paramref name="socket"/> (a bound UDP socket).</summary>
    /// <param name="change">CHANGE-REQUEST flags (RFC 5780); the answer then comes from another address or port.</param>
    /// <param name="filteringProbe">Use the short schedule for probes whose answer may be filtered.</param>
    /// <exception cref="StunTimeoutException">No answer after every retransmission.</exception>
    /// <exception cref="StunErrorResponseException">The server answered with an error.</exception>
    /// <exception cref="StunFormatException">The answer matched the transaction but could not be used.</exception>
    public async Task<StunBindingResult> BindingAsync(Socket socket, IPEndPoint server, StunChangeRequest change,
        CancellationToken cancellationToken, bool filteringProbe = false)
    {
        ArgumentNullException.ThrowIfNull(socket);
        ArgumentNullException.ThrowIfNull(server);
        if (socket.AddressFamily == AddressFamily.InterNetworkV6 && server.AddressFamily == AddressFamily.InterNetwork)
            server = new IPEndPoint(server.Address.MapToIPv6(), server.Port);
        byte[] transactionId = RandomNumberGenerator.GetBytes(StunMessage.TransactionIdLength);
        byte[] request = StunCodec.Encode(BuildRequest(transactionId, change));
        int transmissions = filteringProbe ? _options.FilteringProbeTransmissions : _options.MaxTransmissions;
        int lastWait = filteringProbe ? _options.FilteringProbeLastWaitMultiplier : _options.LastWaitMultiplier;
        byte[] buffer = new byte[_options.MaxMessageSize + 1];
        TimeSpan rto = _options.InitialRto;
        long started = Stopwatch.GetTimestamp();
        _metrics?.Transaction();
        for (int sent = 1; sent <= transmissions; sent++)
        {
            await socket.SendToAsync(request, SocketFlags.None, server, cancellationToken).ConfigureAwait(false);
            var wait = sent == transmissions ? rto * lastWait : rto;
            var answer = await ReceiveAsync(socket, buffer, transactionId, wait, cancellationToken).ConfigureAwait(false);
            if (answer is { } response)
            {
                var (message, from) = response;
                var elapsed = Stopwatch.GetElapsedTime(started);
                return Complete(message, from, elapsed, sent);
            }
            rto *= 2;
        }
        _metrics?.Timeout();
        throw new StunTimeoutException($"no STUN answer from {server} after {transmissions} requests");
    }

    private StunMessage BuildRequest(byte[] transactionId, StunChangeRequest change)
    {
        var attributes = new List<StunAttribute>();
        if (!string.IsNullOrEmpty(_options.Software))
            attributes.Add(new StunAttribute(StunAttributeType.Software, System.Text.Encoding.UTF8.GetBytes(_options.Software)));
        if (change != StunChangeRequest.None)
        {
            byte[] flags = new byte[4];
            BinaryPrimitives.WriteUInt32BigEndian(flags, (uint)change);
            attributes.Add(new StunAttribute(StunAttributeType.ChangeRequest, flags));
        }
        return new StunMessage(StunMessage.BindingMethod, StunClass.Request, transactionId, attributes);
    }

    private async Task<(StunMessage, IPEndPoint)?> ReceiveAsync(Socket socket, byte[] buffer, byte[] transactionId, TimeSpan wait,
        CancellationToken cancellationToken)
    {
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timer.CancelAfter(wait);
        EndPoint any = socket.AddressFamily == AddressFamily.InterNetworkV6 ? new IPEndPoint(IPAddress.IPv6Any, 0) : new IPEndPoint(IPAddress.Any, 0);
        while (true)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, any, timer.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return null; // retransmission time
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
            {
                continue; // an ICMP port unreachable for an earlier datagram: keep waiting for this transaction
            }
            var from = (IPEndPoint)received.RemoteEndPoint;
            var datagram = buffer.AsSpan(0, received.ReceivedBytes);
            if (!StunCodec.LooksLikeStun(datagram)) continue; // not ours: the socket may carry other traffic
            StunMessage message;
            try
            {
                message = StunCodec.Decode(datagram, _options.MaxMessageSize);
            }
            catch (StunFormatException ex)
            {
                _metrics?.Malformed();
                LogMalformed(from, ex.Message);
                continue;
            }
            if (!message.TransactionId.SequenceEqual(transactionId) || message.Method != StunMessage.BindingMethod
                || message.Class is not (StunClass.SuccessResponse or StunClass.ErrorResponse))
            {
                continue; // a late answer to an earlier transaction, or not an answer
            }
            return (message, new IPEndPoint(StunAddress.Normalise(from.Address), from.Port));
        }
    }

    private StunBindingResult Complete(StunMessage message, IPEndPoint from, TimeSpan elapsed, int transmissions)
    {
        try
        {
            foreach (var attribute in message.Attributes)
            {
                if (StunAttributeType.IsComprehensionRequired(attribute.Type) && !Understood.Contains(attribute.Type))
                    throw new StunFormatException($"the STUN response carries the unknown comprehension-required attribute 0x{attribute.Type:x4}");
            }
            if (message.Class == StunClass.ErrorResponse)
            {
                var (code, reason) = message.Error ?? throw new StunFormatException("a STUN error response without ERROR-CODE");
                throw new StunErrorResponseException(code, reason);
            }
            var mapped = message.MappedAddress ?? throw new StunFormatException("a STUN Binding response without (XOR-)MAPPED-ADDRESS");
            return new StunBindingResult(mapped, message.ResponseOrigin, message.OtherAddress, from, message.Software, elapsed, transmissions);
        }
        catch (StunFormatException)
        {
            _metrics?.Malformed();
            throw;
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Ignoring a malformed STUN datagram from {From}: {Reason}")]
    private partial void LogMalformed(IPEndPoint from, string reason);
}
