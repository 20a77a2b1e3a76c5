using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using P2PStack;
using P2PStack.Identity;
using P2PStack.Discovery;
using P2PStack.Network;

namespace SynapticMesh.Node;

/// <summary>Limits of <see cref="DiscoveredPeerDialer"/>.</summary>
public sealed class DiscoveredPeerDialerOptions
{
    /// <summary>A peer is not dialed again (after a failure, or after leaving) for this long.</summary>
    public TimeSpan Backoff { get; set; } = TimeSpan.FromSeconds(30);

    public int MaxConcurrentDials { get; set; } = 4;

    /// <summary>Most peers remembered for the backoff.</summary>
    public int MaxTrackedPeers { get; set; } = 1024;

    /// <summary>
    /// The <see cref="PeerDiscovered.Source"/>s dialed (empty: all). Sources that dial on their own (signed LAN
    /// announcements) are left out so a peer is not dialed twice.
    /// </summary>
    public HashSet<string> Sources { get; } = new(StringComparer.Ordinal);
}

/// <summary>
/// Dials the peers discovery finds (the <see cref="PeerDiscovered"/> sources configured: mDNS in the node) while the node has fewer
/// connected peers than the connection manager's low watermark, so discovery fills the node up to where the manager
/// would otherwise trim it, never beyond. Each dial is by peer id: the handshake authenticates the peer, whatever
/// addresses the announcement claimed. Once connected, identify runs and the DHT adds the peer to its routing table
/// when it serves the node's DHT protocol.
/// </summary>
public sealed partial class DiscoveredPeerDialer(IPeerHost host, IOptions<P2PStack.Host.HostOptions> hostOptions, IOptions<DiscoveredPeerDialerOptions> options,
    ILogger<DiscoveredPeerDialer> logger, TimeProvider? time = null) : IHostedService
{
    private readonly DiscoveredPeerDialerOptions _options = options.Value;
    private readonly TimeProvider _time = time ?? TimeProvider.System;
    private readonly ConcurrentDictionary<PeerId, long> _lastDial = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<Task, bool> _dials = new();
    private SemaphoreSlim? _slots;
    private IDisposable? _subscription;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _slots = new SemaphoreSlim(_options.MaxConcurrentDials, _options.MaxConcurrentDials);
        _subscription = host.Events.Subscribe<PeerDiscovered>(OnDiscovered);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        _subscription?.Dispose();
        await _stopping.CancelAsync();
        await Task.WhenAll(_dials.Keys).WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private void OnDiscovered(PeerDiscovered discovered)
    {
        var peer = discovered.Peer;
        if (_options.Sources.Count > 0 && !_options.Sources.Contains(discovered.Source)) return;
        if (_stopping.IsCancellationRequested || peer == host.PeerId || host.GetConnections(peer).Count > 0) return;
        int connected = host.GetConnections().Select(c => c.RemotePeer).Distinct().Count();
        if (connected >= hostOptions.Value.ConnectionManager.LowWater)
        {
            LogEnough(discovered.Source, peer, connected);
            return;
        }
        long now = _time.GetTimestamp();
        if (_lastDial.TryGetValue(peer, out long last) && _time.GetElapsedTime(last, now) < _options.Backoff) return;
        if (!_slots!.Wait(0)) return; // busy: the next announcement finds it again
        if (_lastDial.Count >= _options.MaxTrackedPeers) Prune(now);
        _lastDial[peer] = now;
        var dial = DialAsync(peer, discovered.Source);
        _dials[dial] = true;
        _ = dial.ContinueWith(t => _dials.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private async Task DialAsync(PeerId peer, string source)
    {
        try
        {
            await Task.Yield();
            var connection = await host.DialAsync(peer, _stopping.Token);
            LogDialed(source, peer, connection.RemoteAddress.ToString());
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogDialFailed(source, peer, e.Message);
        }
        finally
        {
            _slots!.Release();
        }
    }

    private void Prune(long now)
    {
        foreach (var (peer, at) in _lastDial)
        {
            if (_time.GetElapsedTime(at, now) >= _options.Backoff) _lastDial.TryRemove(peer, out _);
        }
        if (_lastDial.Count >= _options.MaxTrackedPeers) _lastDial.Clear(); // all recent: forget rather than grow
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Source}: connected to discovered peer {Peer} at {Address}")]
    private partial void LogDialed(string source, PeerId peer, string address);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Source}: discovered peer {Peer} not reachable: {Reason}")]
    private partial void LogDialFailed(string source, PeerId peer, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Source}: not dialing discovered peer {Peer}: {Connected} peers connected already (low watermark)")]
    private partial void LogEnough(string source, PeerId peer, int connected);
}
