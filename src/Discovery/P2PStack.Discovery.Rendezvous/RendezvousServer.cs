using System.Diagnostics.Metrics;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using P2PStack.Discovery.Rendezvous.Pb;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Records;
using Status = P2PStack.Discovery.Rendezvous.Pb.Message.Types.ResponseStatus;
using MessageType = P2PStack.Discovery.Rendezvous.Pb.Message.Types.MessageType;

namespace P2PStack.Discovery.Rendezvous;

/// <summary>
/// A rendezvous point: serves <c>/rendezvous/1.0.0</c>. Requests on a stream are answered in order until the client
/// closes it or stays idle. REGISTER is checked for its namespace, TTL (refused outside
/// <see cref="RendezvousServerOptions.MinTtl"/>..<see cref="RendezvousServerOptions.MaxTtl"/>), a signed peer record
/// of the stream's own peer, and the registration limits; UNREGISTER has no response; DISCOVER pages with cookies.
/// A malformed message resets the stream. Every refusal is counted by reason.
/// </summary>
public sealed partial class RendezvousServer : IProtocolHandler, IDisposable
{
    private readonly RendezvousServerOptions _options;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly RegistrationStore _store;
    private readonly TimeProvider _time;

    public RendezvousServer(IOptions<RendezvousServerOptions> options, ILogger<RendezvousServer>? logger = null, TimeProvider? time = null,
        IMeterFactory? meterFactory = null)
    {
        _options = options.Value;
        _options.Validate();
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        _store = new RegistrationStore(_options, _time);
        Protocols = [.. _options.ProtocolIds];
        Metrics = new RendezvousMetrics(meterFactory, () => RegistrationCount);
    }

    public IReadOnlyList<string> Protocols { get; }

    public RendezvousMetrics Metrics { get; }

    public int RegistrationCount
    {
        get { lock (_gate) return _store.Count; }
    }

    public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
    {
        await using (stream.ConfigureAwait(false))
        {
            var peer = stream.Connection.RemotePeer;
            using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            try
            {
                while (true)
                {
                    idle.CancelAfter(_options.StreamIdleTimeout);
                    var request = await RendezvousProtocol.ReadAsync(stream.Input, _options.MaxRequestSize, idle.Token).ConfigureAwait(false);
                    if (request is null) break;
                    var response = Handle(request, peer);
                    if (response is not null) await RendezvousProtocol.WriteAsync(stream.Output, response, idle.Token).ConfigureAwait(false);
                }
                await stream.Output.CompleteAsync().ConfigureAwait(false);
            }
            catch (RendezvousFormatException e)
            {
                Metrics.Refused("malformed");
                LogMalformed(peer, e.Message);
                stream.Reset();
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                stream.Reset(); // idle
            }
            catch (Exception e) when (e is IOException or EndOfStreamException)
            {
                stream.Reset();
            }
        }
    }

    /// <summary>The response to one request (null for UNREGISTER). Exposed for tests of the wire logic.</summary>
    /// <exception cref="RendezvousFormatException">A request without its body, or a response type.</exception>
    internal Message? Handle(Message request, PeerId peer)
    {
        switch (request.Type)
        {
            case MessageType.Register when request.Register is { } register:
                Metrics.Request("register");
                return new Message { Type = MessageType.RegisterResponse, RegisterResponse = Register(register, peer) };
            case MessageType.Unregister when request.Unregister is { } unregister:
                Metrics.Request("unregister");
                if (!CheckNamespace(unregister.Ns, allowEmpty: false, out _)) return null;
                lock (_gate) _store.Unregister(unregister.Ns, peer);
                return null;
            case MessageType.Discover when request.Discover is { } discover:
                Metrics.Request("discover");
                return new Message { Type = MessageType.DiscoverResponse, DiscoverResponse = Discover(discover) };
            default:
                throw new RendezvousFormatException($"a {request.Type} request without its body, or not a request");
        }
    }

    private Message.Types.RegisterResponse Register(Message.Types.Register register, PeerId peer)
    {
        if (!CheckNamespace(register.Ns, allowEmpty: false, out string? problem)) return RegisterRefused(Status.EInvalidNamespace, problem!);
        TimeSpan ttl = _options.DefaultTtl;
        if (register.HasTtl && register.Ttl != 0)
        {
            if (register.Ttl > (ulong)_options.MaxTtl.TotalSeconds)
                return RegisterRefused(Status.EInvalidTtl, $"TTL of {register.Ttl} s is over the maximum of {_options.MaxTtl.TotalSeconds:0} s");
            ttl = TimeSpan.FromSeconds(register.Ttl);
            if (ttl < _options.MinTtl)
                return RegisterRefused(Status.EInvalidTtl, $"TTL of {register.Ttl} s is under the minimum of {_options.MinTtl.TotalSeconds:0} s");
        }
        byte[] record = register.SignedPeerRecord.ToByteArray();
        if (record.Length == 0) return RegisterRefused(Status.EInvalidSignedPeerRecord, "no signed peer record");
        if (record.Length > _options.MaxSignedPeerRecordSize)
            return RegisterRefused(Status.EInvalidSignedPeerRecord, $"signed peer record of {record.Length} bytes is over {_options.MaxSignedPeerRecordSize}");
        try
        {
            var opened = PeerRecord.Open(record, _options.MaxSignedPeerRecordSize);
            if (opened.PeerId != peer)
                return RegisterRefused(Status.EInvalidSignedPeerRecord, $"the record is of {opened.PeerId}, not of the registering peer");
            if (opened.Addresses.Count == 0) return RegisterRefused(Status.EInvalidSignedPeerRecord, "the record has no addresses");
        }
        catch (Exception e) when (e is EnvelopeException or PeerRecordException)
        {
            return RegisterRefused(Status.EInvalidSignedPeerRecord, e.Message);
        }
        RegisterOutcome outcome;
        lock (_gate) outcome = _store.Register(register.Ns, peer, record, ttl);
        if (outcome.Status != Status.Ok) return RegisterRefused(outcome.Status, outcome.Text);
        return new Message.Types.RegisterResponse { Status = Status.Ok, Ttl = (ulong)outcome.Ttl.TotalSeconds };
    }

    private Message.Types.DiscoverResponse Discover(Message.Types.Discover discover)
    {
        string ns = discover.HasNs ? discover.Ns : "";
        if (!CheckNamespace(ns, allowEmpty: true, out string? problem)) return DiscoverRefused(Status.EInvalidNamespace, problem!);
        int limit = discover.Limit == 0 ? _options.DefaultDiscoverLimit : (int)Math.Min(discover.Limit, (ulong)_options.MaxDiscoverLimit);
        DiscoverOutcome outcome;
        lock (_gate) outcome = _store.Discover(ns, limit, discover.Cookie.Span);
        if (outcome.Status != Status.Ok) return DiscoverRefused(outcome.Status, outcome.Text);
        var response = new Message.Types.DiscoverResponse { Status = Status.Ok, Cookie = ByteString.CopyFrom(outcome.Cookie) };
        foreach (var registration in outcome.Registrations)
        {
            response.Registrations.Add(new Message.Types.Register
            {
                Ns = registration.Namespace,
                SignedPeerRecord = UnsafeByteOperations.UnsafeWrap(registration.SignedPeerRecord),
                Ttl = (ulong)Math.Max(0, Math.Ceiling((registration.ExpiresAt - _time.GetUtcNow()).TotalSeconds)),
            });
        }
        return response;
    }

    private bool CheckNamespace(string ns, bool allowEmpty, out string? problem)
    {
        problem = null;
        if (ns.Length == 0 && !allowEmpty) problem = "namespace is empty";
        else if (RendezvousProtocol.NamespaceLength(ns) > _options.MaxNamespaceLength)
            problem = $"namespace of {RendezvousProtocol.NamespaceLength(ns)} bytes is over {_options.MaxNamespaceLength}";
        if (problem is not null) Metrics.Refused(StatusName(Status.EInvalidNamespace));
        return problem is null;
    }

    private Message.Types.RegisterResponse RegisterRefused(Status status, string text)
    {
        if (status != Status.EInvalidNamespace) Metrics.Refused(StatusName(status));
        return new Message.Types.RegisterResponse { Status = status, StatusText = text };
    }

    private Message.Types.DiscoverResponse DiscoverRefused(Status status, string text)
    {
        if (status != Status.EInvalidNamespace) Metrics.Refused(StatusName(status));
        return new Message.Types.DiscoverResponse { Status = status, StatusText = text };
    }

    /// <summary>The spec's name of a status (E_INVALID_TTL, ...), as counted by <see cref="RendezvousMetrics"/>.</summary>
    public static string StatusName(Status status) => status switch
    {
        Status.Ok => "OK",
        Status.EInvalidNamespace => "E_INVALID_NAMESPACE",
        Status.EInvalidSignedPeerRecord => "E_INVALID_SIGNED_PEER_RECORD",
        Status.EInvalidTtl => "E_INVALID_TTL",
        Status.EInvalidCookie => "E_INVALID_COOKIE",
        Status.ENotAuthorized => "E_NOT_AUTHORIZED",
        Status.EInternalError => "E_INTERNAL_ERROR",
        Status.EUnavailable => "E_UNAVAILABLE",
        _ => ((int)status).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    public void Dispose() => Metrics.Dispose();

    [LoggerMessage(Level = LogLevel.Debug, Message = "rendezvous stream from {Peer} reset: {Reason}")]
    private partial void LogMalformed(PeerId peer, string reason);
}
