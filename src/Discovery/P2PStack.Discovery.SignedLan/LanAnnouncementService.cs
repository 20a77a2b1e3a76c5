using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Diagnostics;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Discovery.SignedLan;

/// <summary>
/// Announces this node on the LAN with a signed peer record every <see cref="LanAnnouncementOptions.Interval"/>, and
/// uses the announcements of others only when they verify: a valid signature by the announced peer, a sequence number
/// above the last one accepted from that peer (no replay) and within the time window of our clock (not stale). Every
/// announcement is counted by verdict; accepted peers pass the discovery policies (security level), then go to the
/// peer store, a <see cref="PeerDiscovered"/> event and (by default) a dial. Runs as an <see cref="IHostedService"/>
/// after the host.
/// </summary>
public sealed partial class LanAnnouncementService : IHostedService, IAsyncDisposable
{
    public const string Source = "lan";

    private readonly IPeerHost _host;
    private readonly ILocalIdentity _identity;
    private readonly LanAnnouncementOptions _options;
    private readonly IDiscoveryPolicy[] _policies;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Metrics _metrics;
    private readonly Dictionary<PeerId, ulong> _lastSeq = [];
    private readonly Lock _gate = new();
    private readonly ConcurrentDictionary<PeerId, byte> _dialing = new();
    private readonly CancellationTokenSource _stopping = new();
    private Socket? _socket;
    private ulong _lastSent;
    private Task _loops = Task.CompletedTask;

    public LanAnnouncementService(IPeerHost host, ILocalIdentity identity, IOptions<LanAnnouncementOptions> options,
        IEnumerable<IDiscoveryPolicy> policies, ILogger<LanAnnouncementService>? logger = null, IMeterFactory? meters = null,
        TimeProvider? time = null)
    {
        _host = host;
        _identity = identity;
        _options = options.Value;
        _options.Validate();
        _policies = [.. policies];
        _logger = logger ?? (ILogger)NullLogger.Instance;
        _time = time ?? TimeProvider.System;
        _metrics = new Metrics(meters);
    }

    /// <summary>The receiving socket's local end point once started (its port when <see cref="LanAnnouncementOptions.Port"/> is 0).</summary>
    public IPEndPoint? LocalEndPoint => _socket?.LocalEndPoint as IPEndPoint;

    /// <summary>Announcements received so far, by verdict.</summary>
    public IReadOnlyDictionary<AnnouncementVerdict, long> Counts => _metrics.Counts;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(new IPEndPoint(_options.BindAddress, _options.Port));
            if (_options.Multicast) JoinGroup(socket);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            LogUnavailable(ex.Message);
            return Task.CompletedTask;
        }
        _socket = socket;
        _loops = Task.WhenAll(ReceiveLoopAsync(socket), AnnounceLoopAsync());
        return Task.CompletedTask;
    }

    private void JoinGroup(Socket socket)
    {
        socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.MulticastLoopback, true);
        int joined = 0;
        foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
        {
            if (nic.OperationalStatus != OperationalStatus.Up || !nic.SupportsMulticast) continue;
            var ipv4 = nic.GetIPProperties().GetIPv4Properties();
            if (ipv4 is null) continue;
            try
            {
                socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.AddMembership, new MulticastOption(_options.Group, ipv4.Index));
                joined++;
            }
            catch (SocketException)
            {
                // an interface without IPv4 multicast routing: the others still work
            }
        }
        if (joined == 0) socket.SetSocketOption(SocketOptionLevel.IP, SocketOptionName.AddMembership, new MulticastOption(_options.Group));
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_stopping.IsCancellationRequested) return;
        await _stopping.CancelAsync().ConfigureAwait(false);
        _socket?.Dispose();
        await _loops.ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        _stopping.Dispose();
        _metrics.Dispose();
    }

    /// <summary>Sends an announcement now (also done every interval).</summary>
    public async Task AnnounceNowAsync(CancellationToken cancellationToken)
    {
        var socket = _socket ?? throw new InvalidOperationException("the announcement service is not started");
        byte[] datagram = CreateAnnouncement();
        if (_options.Multicast)
            await SendQuietlyAsync(socket, datagram, new IPEndPoint(_options.Group, _options.Port), cancellationToken).ConfigureAwait(false);
        foreach (var target in _options.Targets)
            await SendQuietlyAsync(socket, datagram, target, cancellationToken).ConfigureAwait(false);
    }

    private byte[] CreateAnnouncement()
    {
        var addresses = (_host.AdvertisedAddresses.Count > 0 ? _host.AdvertisedAddresses : _host.ListenAddresses)
            .Where(a => _options.IncludeLoopback || a.GetIPAddress() is not { } ip || !IPAddress.IsLoopback(ip))
            .Take(_options.MaxAddresses).ToList();
        while (true)
        {
            // Strictly increasing even when two announcements fall in one clock tick.
            ulong seq;
            lock (_gate) seq = _lastSent = Math.Max(LanAnnouncement.SequenceAt(_time.GetUtcNow()), _lastSent + 1);
            byte[] datagram = LanAnnouncement.Create(_identity.PrivateKey, addresses, seq);
            if (datagram.Length <= _options.MaxDatagramSize || addresses.Count == 0) return datagram;
            addresses.RemoveAt(addresses.Count - 1);
        }
    }

    private async Task SendQuietlyAsync(Socket socket, byte[] datagram, IPEndPoint target, CancellationToken cancellationToken)
    {
        try
        {
            await socket.SendToAsync(datagram, SocketFlags.None, target, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            LogSendFailed(target.ToString(), ex.Message);
        }
    }

    private async Task AnnounceLoopAsync()
    {
        using var timer = new PeriodicTimer(_options.Interval, _time);
        try
        {
            do
            {
                await AnnounceNowAsync(_stopping.Token).ConfigureAwait(false);
            }
            while (await timer.WaitForNextTickAsync(_stopping.Token).ConfigureAwait(false));
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    private async Task ReceiveLoopAsync(Socket socket)
    {
        var buffer = new byte[_options.MaxDatagramSize + 1];
        EndPoint any = new IPEndPoint(IPAddress.Any, 0);
        while (!_stopping.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, any, _stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex)
            {
                LogReceiveFailed(ex.Message); // e.g. ICMP port unreachable for a unicast target: keep listening
                continue;
            }
            Handle(buffer.AsSpan(0, received.ReceivedBytes), (IPEndPoint)received.RemoteEndPoint);
        }
    }

    /// <summary>Checks one datagram and uses it when it passes; returns the verdict (counted).</summary>
    internal AnnouncementVerdict Handle(ReadOnlySpan<byte> datagram, IPEndPoint source)
    {
        var now = _time.GetUtcNow();
        var verdict = LanAnnouncement.Verify(datagram, now, _options.TimeWindow, _options.MaxDatagramSize, out var record);
        if (verdict == AnnouncementVerdict.Accepted) verdict = Track(record!, now);
        if (verdict == AnnouncementVerdict.Accepted)
        {
            foreach (var policy in _policies)
            {
                if (policy.Refuse(record!.PeerId, DiscoveryEvidence.SignedRecord, Source) is { } reason)
                {
                    LogRefused(record.PeerId, source.ToString(), reason);
                    verdict = AnnouncementVerdict.Refused;
                    break;
                }
            }
        }
        _metrics.Count(verdict);
        if (verdict != AnnouncementVerdict.Accepted)
        {
            if (verdict != AnnouncementVerdict.Own) LogIgnored(source.ToString(), verdict);
            return verdict;
        }
        Use(record!);
        return verdict;
    }

    private AnnouncementVerdict Track(Records.PeerRecord record, DateTimeOffset now)
    {
        if (record.PeerId.Equals(_identity.PeerId)) return AnnouncementVerdict.Own;
        lock (_gate)
        {
            if (_lastSeq.TryGetValue(record.PeerId, out ulong last))
            {
                if (record.Seq <= last) return AnnouncementVerdict.Replayed;
            }
            else if (_lastSeq.Count >= _options.MaxTrackedPeers)
            {
                // Entries signed before the window can go: anything replayed from them is stale anyway.
                ulong oldest = (ulong)Math.Max(0, (now - _options.TimeWindow).ToUnixTimeMilliseconds() * 1_000_000L);
                foreach (var (peer, seq) in _lastSeq.ToList())
                {
                    if (seq < oldest) _lastSeq.Remove(peer);
                }
                if (_lastSeq.Count >= _options.MaxTrackedPeers) return AnnouncementVerdict.TrackingFull;
            }
            _lastSeq[record.PeerId] = record.Seq;
        }
        return AnnouncementVerdict.Accepted;
    }

    private void Use(Records.PeerRecord record)
    {
        var addresses = record.Addresses.Where(a => a.GetPeerId() is null).Take(_options.MaxAddresses).ToList();
        if (addresses.Count == 0) return;
        _host.PeerStore.AddAddresses(record.PeerId, addresses, _options.PeerAddressTtl);
        LogDiscovered(record.PeerId, addresses.Count);
        _host.Events.Publish(new PeerDiscovered(record.PeerId, addresses, Source));
        if (_options.DialDiscovered && _host.GetConnections(record.PeerId).Count == 0 && _dialing.TryAdd(record.PeerId, 0))
            _ = DialAsync(record.PeerId);
    }

    private async Task DialAsync(PeerId peer)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            timeout.CancelAfter(_options.DialTimeout);
            await _host.DialAsync(peer, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            if (!_stopping.IsCancellationRequested) LogDialFailed(peer, ex.Message);
        }
        finally
        {
            _dialing.TryRemove(peer, out _);
        }
    }

    private sealed class Metrics : ModuleMetrics
    {
        private readonly ConcurrentDictionary<AnnouncementVerdict, long> _counts = new();
        private readonly Counter<long> _counter;

        // Created with the meter (not at the first announcement): the instrument is there for listeners from the start.
        public Metrics(IMeterFactory? factory) : base(factory, "P2PStack.Discovery.SignedLan") =>
            _counter = Meter.CreateCounter<long>("p2pstack_lan_announcements_received_total", "{announcement}",
                "Signed LAN announcements received, by verdict (accepted, malformed, forged, replayed, stale, own, tracking_full, refused)");

        public IReadOnlyDictionary<AnnouncementVerdict, long> Counts => _counts;

        public void Count(AnnouncementVerdict verdict)
        {
            _counts.AddOrUpdate(verdict, 1, (_, n) => n + 1);
            _counter.Add(1, new KeyValuePair<string, object?>("verdict", Label(verdict)));
        }

        private static string Label(AnnouncementVerdict verdict) => verdict switch
        {
            AnnouncementVerdict.TrackingFull => "tracking_full",
            _ => verdict.ToString().ToLowerInvariant(),
        };
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Signed LAN announcements unavailable: {Reason}")]
    private partial void LogUnavailable(string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "LAN announcement to {Target} not sent: {Reason}")]
    private partial void LogSendFailed(string target, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "LAN announcement receive failed: {Reason}")]
    private partial void LogReceiveFailed(string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "LAN announcement from {Source} ignored: {Verdict}")]
    private partial void LogIgnored(string source, AnnouncementVerdict verdict);

    [LoggerMessage(Level = LogLevel.Debug, Message = "LAN announcement of {Peer} from {Source} refused: {Reason}")]
    private partial void LogRefused(PeerId peer, string source, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "LAN announcement: found {Peer} with {Count} addresses")]
    private partial void LogDiscovered(PeerId peer, int count);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Dial to LAN-announced {Peer} failed: {Reason}")]
    private partial void LogDialFailed(PeerId peer, string reason);
}
