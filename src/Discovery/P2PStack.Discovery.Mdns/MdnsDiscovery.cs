using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Discovery.Mdns.Dns;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Discovery.Mdns;

/// <summary>
/// libp2p mDNS discovery (discovery/mdns.md): queries <c>_p2p._udp.local</c> every <see cref="MdnsOptions.QueryInterval"/>,
/// answers queries with the host's addresses, and for each peer found adds its addresses to the peer store, publishes
/// <see cref="PeerDiscovered"/> and (by default) dials it so identify runs and the DHT can add it. Runs with the host
/// as an <see cref="IHostedService"/>; start it after the host.
/// </summary>
public sealed partial class MdnsDiscovery : IHostedService, IAsyncDisposable
{
    public const string Source = "mdns";

    private readonly IPeerHost _host;
    private readonly MdnsOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Func<MdnsOptions, IMdnsTransport> _transportFactory;
    private readonly MdnsResponder _responder;
    private readonly DnsLimits _limits;
    private readonly IDiscoveryPolicy[] _policies;
    private readonly Channel<(byte[] Packet, IPEndPoint? Destination)> _outgoing =
        Channel.CreateBounded<(byte[], IPEndPoint?)>(new BoundedChannelOptions(16) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private readonly ConcurrentDictionary<string, long> _lastMulticast = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<PeerId, long> _lastDial = new();
    private readonly ConcurrentDictionary<Task, bool> _dials = new();
    private readonly SemaphoreSlim _dialSlots;
    private readonly CancellationTokenSource _stopping = new();
    private readonly object _gate = new();
    private IMdnsTransport? _transport;
    private Task _loops = Task.CompletedTask;
    private bool _started;

    /// <param name="policies">Discovery policies (e.g. the trust module's security level); mDNS answers are unsigned,
    /// so a policy that demands signed records drops them.</param>
    public MdnsDiscovery(IPeerHost host, IOptions<MdnsOptions> options, ILogger<MdnsDiscovery>? logger = null, TimeProvider? time = null,
        IEnumerable<IDiscoveryPolicy>? policies = null)
        : this(host, options.Value, logger ?? (ILogger)NullLogger.Instance, null, time, policies)
    {
    }

    internal MdnsDiscovery(IPeerHost host, MdnsOptions options, ILogger logger, Func<MdnsOptions, IMdnsTransport>? transportFactory,
        TimeProvider? time, IEnumerable<IDiscoveryPolicy>? policies = null)
    {
        _policies = policies?.ToArray() ?? [];
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _host = host;
        _options = options;
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _transportFactory = transportFactory ?? (o => new UdpMulticastTransport(o, logger));
        _responder = new MdnsResponder(host.PeerId, options);
        _limits = options.Limits;
        _dialSlots = new SemaphoreSlim(options.MaxConcurrentDials, options.MaxConcurrentDials);
    }

    /// <summary>Our peer-name label (random unless configured).</summary>
    public string PeerName => _responder.PeerName;

    /// <summary>True once the sockets are open and the loops run.</summary>
    public bool IsRunning { get; private set; }

    /// <summary>Interfaces joined ("name/family"); empty with a non-UDP transport or when not running.</summary>
    public IReadOnlyList<string> JoinedInterfaces => (_transport as UdpMulticastTransport)?.Joined ?? [];

    /// <summary>
    /// Opens the sockets, sends the first query and starts the loops. When no interface can join the group, logs a
    /// warning and stays idle: the host runs on without mDNS.
    /// </summary>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_started) return;
            _started = true;
        }
        var transport = _transportFactory(_options);
        try
        {
            await transport.StartAsync(OnPacket, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            Log.Unavailable(_logger, e.Message);
            await transport.DisposeAsync().ConfigureAwait(false);
            return;
        }
        _transport = transport;
        IsRunning = true;
        _loops = Task.WhenAll(SendLoopAsync(transport), QueryLoopAsync());
        Log.Started(_logger, PeerName, string.Join(", ", JoinedInterfaces));
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_stopping.IsCancellationRequested) return;
        await _stopping.CancelAsync().ConfigureAwait(false);
        _outgoing.Writer.TryComplete();
        await _loops.ConfigureAwait(false);
        await Task.WhenAll(_dials.Keys).ConfigureAwait(false);
        if (_transport is not null) await _transport.DisposeAsync().ConfigureAwait(false);
        IsRunning = false;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        _stopping.Dispose();
        _dialSlots.Dispose();
    }

    /// <summary>Sends a query now (e.g. after a network change), besides the periodic ones.</summary>
    public void QueryNow() => Enqueue(_responder.Query(), null);

    private async Task QueryLoopAsync()
    {
        using var timer = new PeriodicTimer(_options.QueryInterval, _time);
        try
        {
            do
            {
                QueryNow();
            }
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false));
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task SendLoopAsync(IMdnsTransport transport)
    {
        await foreach (var (packet, destination) in _outgoing.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                await transport.SendAsync(packet, destination, _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void Enqueue(DnsMessage message, IPEndPoint? destination)
    {
        if (_stopping.IsCancellationRequested) return;
        byte[] packet;
        try
        {
            packet = DnsMessageWriter.Write(message, _options.MaxPacketSize);
        }
        catch (ArgumentException e)
        {
            Log.CannotEncode(_logger, e.Message);
            return;
        }
        if (!_outgoing.Writer.TryWrite((packet, destination))) Log.SendQueueFull(_logger);
    }

    private void OnPacket(ReadOnlySpan<byte> packet, IPEndPoint source)
    {
        if (_stopping.IsCancellationRequested) return;
        DnsMessage message;
        try
        {
            message = DnsMessageReader.Read(packet, _limits);
        }
        catch (DnsFormatException e)
        {
            Log.Malformed(_logger, source, e.Message);
            return;
        }
        if (message.Opcode != 0 || message.ResponseCode != 0) return; // RFC 6762 §18.3, §18.11: silently ignored
        if (message.IsResponse) OnResponse(message, source);
        else if (_options.Broadcast) OnQuery(message, source);
    }

    private void OnQuery(DnsMessage query, IPEndPoint source)
    {
        bool legacy = source.Port != _options.Port; // a one-shot querier: answer it alone (RFC 6762 §6.7)
        var advertised = MdnsResponder.SelectAdvertised(
            _host.AdvertisedAddresses.Count > 0 ? _host.AdvertisedAddresses : _host.ListenAddresses,
            _options.IncludeLoopback, _options.MaxAddressesPerPeer);
        var response = _responder.Answer(query, advertised, legacy);
        while (response is not null && !Fits(response) && advertised.Count > 1)
        {
            advertised.RemoveRange(advertised.Count / 2, advertised.Count - advertised.Count / 2);
            response = _responder.Answer(query, advertised, legacy);
        }
        if (response is null) return;
        if (legacy)
        {
            Enqueue(response, source);
            return;
        }
        // RFC 6762 §6: a record set is multicast at most once per second.
        var first = response.Answers[0];
        string key = DnsName.Normalize(first.Name) + "/" + (ushort)first.Type;
        long now = _time.GetTimestamp();
        if (_lastMulticast.TryGetValue(key, out long last) && _time.GetElapsedTime(last, now) < _options.MinResponseInterval) return;
        _lastMulticast[key] = now;
        Enqueue(response, null);
    }

    private bool Fits(DnsMessage response)
    {
        try
        {
            DnsMessageWriter.Write(response, _options.MaxPacketSize);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private void OnResponse(DnsMessage response, IPEndPoint source)
    {
        var peers = MdnsResponseParser.Parse(response, _options, _responder.InstanceName, _host.PeerId, source.Address);
        foreach (var found in peers)
        {
            if (found.Addresses.Count == 0) continue;
            if (RefusedByPolicy(found.Peer)) continue;
            _host.PeerStore.AddAddresses(found.Peer, found.Addresses, _options.PeerAddressTtl);
            Log.Discovered(_logger, found.Peer, found.Addresses.Count, source);
            _host.Events.Publish(new PeerDiscovered(found.Peer, found.Addresses, Source));
            if (_options.DialDiscovered) MaybeDial(found.Peer);
        }
    }

    private bool RefusedByPolicy(PeerId peer)
    {
        foreach (var policy in _policies)
        {
            if (policy.Refuse(peer, DiscoveryEvidence.Unsigned, Source) is { } reason)
            {
                Log.Refused(_logger, peer, reason);
                return true;
            }
        }
        return false;
    }

    private void MaybeDial(PeerId peer)
    {
        if (_host.GetConnections(peer).Count > 0) return;
        long now = _time.GetTimestamp();
        if (_lastDial.TryGetValue(peer, out long last) && _time.GetElapsedTime(last, now) < _options.DialBackoff) return;
        if (!_dialSlots.Wait(0)) return; // busy: the next query round finds it again
        if (_lastDial.Count >= _options.MaxTrackedPeers) PruneDialHistory(now);
        _lastDial[peer] = now;
        var dial = DialAsync(peer);
        _dials[dial] = true;
        _ = dial.ContinueWith(t => _dials.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private async Task DialAsync(PeerId peer)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            timeout.CancelAfter(_options.DialTimeout);
            await _host.DialAsync(peer, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            if (!_stopping.IsCancellationRequested) Log.DialFailed(_logger, peer, e.Message);
        }
        finally
        {
            _dialSlots.Release();
        }
    }

    private void PruneDialHistory(long now)
    {
        foreach (var (peer, at) in _lastDial)
        {
            if (_time.GetElapsedTime(at, now) >= _options.DialBackoff) _lastDial.TryRemove(peer, out _);
        }
        if (_lastDial.Count >= _options.MaxTrackedPeers) _lastDial.Clear(); // all recent: forget rather than grow
    }

    private static partial class Log
    {
        [LoggerMessage(Level = LogLevel.Information, Message = "mDNS started as {PeerName} on {Interfaces}")]
        public static partial void Started(ILogger logger, string peerName, string interfaces);

        [LoggerMessage(Level = LogLevel.Warning, Message = "mDNS unavailable, discovery disabled: {Reason}")]
        public static partial void Unavailable(ILogger logger, string reason);

        [LoggerMessage(Level = LogLevel.Debug, Message = "mDNS packet from {Source} ignored: {Reason}")]
        public static partial void Malformed(ILogger logger, IPEndPoint source, string reason);

        [LoggerMessage(Level = LogLevel.Debug, Message = "mDNS found {Peer} with {Count} addresses via {Source}")]
        public static partial void Discovered(ILogger logger, PeerId peer, int count, IPEndPoint source);

        [LoggerMessage(Level = LogLevel.Debug, Message = "mDNS answer for {Peer} not used: {Reason}")]
        public static partial void Refused(ILogger logger, PeerId peer, string reason);

        [LoggerMessage(Level = LogLevel.Debug, Message = "mDNS dial to {Peer} failed: {Reason}")]
        public static partial void DialFailed(ILogger logger, PeerId peer, string reason);

        [LoggerMessage(Level = LogLevel.Warning, Message = "mDNS message not sent: {Reason}")]
        public static partial void CannotEncode(ILogger logger, string reason);

        [LoggerMessage(Level = LogLevel.Debug, Message = "mDNS send queue full; packet dropped")]
        public static partial void SendQueueFull(ILogger logger);
    }
}
