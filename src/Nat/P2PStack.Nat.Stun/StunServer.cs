using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace P2PStack.Nat.Stun;

/// <summary>
/// A tiny STUN server (RFC 8489 section 6.3): answers Binding requests with XOR-MAPPED-ADDRESS (the address the
/// request came from), RESPONSE-ORIGIN and FINGERPRINT. It has one address, so it refuses CHANGE-REQUEST and
/// RESPONSE-PORT with 420 like any unknown comprehension-required attribute; other methods get 400. Off by default;
/// each source IP gets a token bucket (a response is barely larger than its request, but a node should still not
/// become anyone's reflector), and the table of sources is bounded.
/// </summary>
public sealed partial class StunServer : IHostedService, IAsyncDisposable
{
    private readonly StunServerOptions _options;
    private readonly StunMetrics? _metrics;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Dictionary<IPAddress, Bucket> _buckets = [];
    private Socket? _socket;
    private CancellationTokenSource? _stopping;
    private Task? _loop;

    public StunServer(IOptions<StunServerOptions> options, StunMetrics? metrics = null, ILogger<StunServer>? logger = null,
        TimeProvider? timeProvider = null)
    {
        _options = options.Value;
        _options.Validate();
        _metrics = metrics;
        _logger = logger ?? NullLogger<StunServer>.Instance;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>The bound address (the real port when the options said 0); null until started.</summary>
    public IPEndPoint? LocalEndPoint => _socket?.LocalEndPoint as IPEndPoint;

    /// <summary>Binds and starts answering, if <see cref="StunServerOptions.Enabled"/>.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!_options.Enabled || _socket is not null) return Task.CompletedTask;
        var socket = new Socket(_options.ListenEndPoint.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.Bind(_options.ListenEndPoint);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        _socket = socket;
        _stopping = new CancellationTokenSource();
        _loop = Task.Run(() => ServeAsync(socket, _stopping.Token), CancellationToken.None);
        LogListening(LocalEndPoint!);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_socket is not { } socket) return;
        await _stopping!.CancelAsync().ConfigureAwait(false);
        socket.Dispose();
        if (_loop is not null) await _loop.WaitAsync(cancellationToken).ConfigureAwait(false);
        _stopping.Dispose();
        _socket = null;
        _loop = null;
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None).ConfigureAwait(false);

    private async Task ServeAsync(Socket socket, CancellationToken stopping)
    {
        byte[] buffer = new byte[_options.MaxMessageSize + 1];
        EndPoint any = socket.AddressFamily == AddressFamily.InterNetworkV6 ? new IPEndPoint(IPAddress.IPv6Any, 0) : new IPEndPoint(IPAddress.Any, 0);
        while (!stopping.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, any, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset or SocketError.MessageSize)
            {
                continue; // an ICMP error for an earlier answer, or a datagram over the size limit (dropped)
            }
            var from = (IPEndPoint)received.RemoteEndPoint;
            byte[]? answer = Answer(buffer.AsSpan(0, received.ReceivedBytes), from, (IPEndPoint)socket.LocalEndPoint!);
            if (answer is null) continue;
            try
            {
                await socket.SendToAsync(answer, SocketFlags.None, from, stopping).ConfigureAwait(false);
            }
            catch (SocketException ex)
            {
                LogSendFailed(from, ex.SocketErrorCode);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>The response to one datagram, or null to stay silent (not STUN, malformed, not a request, rate
    /// limited). Exposed for tests of the wire behaviour.</summary>
    internal byte[]? Answer(ReadOnlySpan<byte> datagram, IPEndPoint from, IPEndPoint local)
    {
        if (datagram.Length > _options.MaxMessageSize || !StunCodec.LooksLikeStun(datagram))
        {
            _metrics?.Malformed("server");
            return null;
        }
        StunMessage request;
        try
        {
            request = StunCodec.Decode(datagram, _options.MaxMessageSize);
        }
        catch (StunFormatException ex)
        {
            _metrics?.Malformed("server");
            LogMalformed(from, ex.Message);
            return null;
        }
        if (request.Class != StunClass.Request)
        {
            _metrics?.Refused("not_request");
            return null; // indications and stray responses get no answer (RFC 8489 section 6.3)
        }
        if (!Admit(from.Address))
        {
            return null;
        }
        var source = new IPEndPoint(StunAddress.Normalise(from.Address), from.Port);
        var origin = new IPEndPoint(StunAddress.Normalise(local.Address), local.Port);
        if (request.Method != StunMessage.BindingMethod)
            return Error(request, 400, "Bad Request: only Binding is served", null);
        var unknown = request.Attributes.Where(a => StunAttributeType.IsComprehensionRequired(a.Type) && !Understood(a.Type))
            .Select(a => a.Type).Distinct().Take(16).ToList();
        if (unknown.Count > 0) return Error(request, 420, "Unknown Attribute", unknown);

        var attributes = new List<StunAttribute>(4);
        byte[] mapped = new byte[StunAddress.EncodedLength(source)];
        StunAddress.EncodeXor(source, request.TransactionId, mapped);
        attributes.Add(new StunAttribute(StunAttributeType.XorMappedAddress, mapped));
        if (!origin.Address.Equals(IPAddress.Any) && !origin.Address.Equals(IPAddress.IPv6Any))
        {
            byte[] responseOrigin = new byte[StunAddress.EncodedLength(origin)];
            StunAddress.Encode(origin, responseOrigin);
            attributes.Add(new StunAttribute(StunAttributeType.ResponseOrigin, responseOrigin));
        }
        if (!string.IsNullOrEmpty(_options.Software))
            attributes.Add(new StunAttribute(StunAttributeType.Software, System.Text.Encoding.UTF8.GetBytes(_options.Software)));
        _metrics?.Served("success");
        return StunCodec.Encode(new StunMessage(StunMessage.BindingMethod, StunClass.SuccessResponse, request.TransactionId, attributes));
    }

    /// <summary>The attributes this server understands in a request. CHANGE-REQUEST and RESPONSE-PORT are not among
    /// them: with one address the server cannot honour them, and RFC 5780 says to answer 420 then.</summary>
    private static bool Understood(ushort type) => type is StunAttributeType.Username or StunAttributeType.MessageIntegrity
        or StunAttributeType.MessageIntegritySha256 or StunAttributeType.Padding;

    private byte[] Error(StunMessage request, int code, string reason, IReadOnlyList<ushort>? unknown)
    {
        byte[] reasonBytes = System.Text.Encoding.UTF8.GetBytes(reason);
        byte[] errorCode = new byte[4 + reasonBytes.Length];
        errorCode[2] = (byte)(code / 100);
        errorCode[3] = (byte)(code % 100);
        reasonBytes.CopyTo(errorCode, 4);
        var attributes = new List<StunAttribute> { new(StunAttributeType.ErrorCode, errorCode) };
        if (unknown is { Count: > 0 })
        {
            byte[] list = new byte[unknown.Count * 2];
            for (int i = 0; i < unknown.Count; i++) BinaryPrimitives.WriteUInt16BigEndian(list.AsSpan(i * 2), unknown[i]);
            attributes.Add(new StunAttribute(StunAttributeType.UnknownAttributes, list));
        }
        if (!string.IsNullOrEmpty(_options.Software))
            attributes.Add(new StunAttribute(StunAttributeType.Software, System.Text.Encoding.UTF8.GetBytes(_options.Software)));
        _metrics?.Served("error");
        return StunCodec.Encode(new StunMessage(request.Method, StunClass.ErrorResponse, request.TransactionId, attributes));
    }

    /// <summary>Token bucket per source IP; buckets full again are dropped when the table is at its limit.</summary>
    private bool Admit(IPAddress address)
    {
        var now = _time.GetTimestamp();
        lock (_buckets)
        {
            if (!_buckets.TryGetValue(address, out var bucket))
            {
                if (_buckets.Count >= _options.MaxTrackedSources) Prune(now);
                if (_buckets.Count >= _options.MaxTrackedSources)
                {
                    _metrics?.Refused("sources_full");
                    return false;
                }
                bucket = new Bucket { Tokens = _options.BurstPerSource, Updated = now };
                _buckets[address] = bucket;
            }
            double elapsed = _time.GetElapsedTime(bucket.Updated, now).TotalSeconds;
            bucket.Tokens = Math.Min(_options.BurstPerSource, bucket.Tokens + elapsed * _options.RequestsPerSecondPerSource);
            bucket.Updated = now;
            if (bucket.Tokens < 1)
            {
                _metrics?.Refused("rate_limited");
                return false;
            }
            bucket.Tokens -= 1;
            return true;
        }
    }

    private void Prune(long now)
    {
        double refill = _options.BurstPerSource / _options.RequestsPerSecondPerSource;
        foreach (var (address, bucket) in _buckets.ToList())
        {
            if (_time.GetElapsedTime(bucket.Updated, now).TotalSeconds >= refill) _buckets.Remove(address);
        }
    }

    private sealed class Bucket
    {
        public double Tokens;
        public long Updated;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "STUN server listening on udp {EndPoint}")]
    private partial void LogListening(IPEndPoint endPoint);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Ignoring a malformed STUN request from {From}: {Reason}")]
    private partial void LogMalformed(IPEndPoint from, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "STUN answer to {To} failed: {Error}")]
    private partial void LogSendFailed(IPEndPoint to, SocketError error);
}
