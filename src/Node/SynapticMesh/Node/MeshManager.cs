using System.Text.Json;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.IO;
using P2PStack.Network;
using P2PStack.Protocols.Ping;
using SynapticMesh.Cli;
using SynapticMesh.Home;

namespace SynapticMesh.Node;

/// <summary>A known host of <c>p2p mesh</c>: dialed and kept connected; its peer id is pinned on the first connection.</summary>
public sealed record MeshHost(string Name, string Address, string? PeerId, DateTimeOffset AddedAt);

/// <summary>What the node knows of a mesh host's health: round trips of its pings and when it was last seen.</summary>
public sealed record MeshHostStatus(string Name, string Address, string? PeerId, bool Online, double? RttMs, double? MinRttMs,
    double? MeanRttMs, double? MaxRttMs, int Samples, DateTimeOffset? LastSeen, string? Error);

/// <summary>
/// The node's known hosts (home/mesh.json): dials each one and keeps it connected (protected from trimming),
/// re-dialing every <see cref="CheckInterval"/>, pings them for health. A host's peer id is pinned when it first
/// answers; later dials demand that peer (a different key at the address is refused).
/// </summary>
public sealed partial class MeshManager(IPeerHost host, PingService ping, NodeHome home, ILogger<MeshManager> logger) : IHostedService
{
    public const int MaxHosts = 256;
    public const string ProtectionTag = "mesh";
    public static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan DialTimeout = TimeSpan.FromSeconds(15);

    private readonly Lock _gate = new();
    private readonly Dictionary<string, Stats> _stats = new(StringComparer.Ordinal);
    private List<MeshHost> _hosts = [];
    private readonly CancellationTokenSource _stopping = new();
    private Task _loop = Task.CompletedTask;

    private sealed class Stats
    {
        public double? Current;
        public double Min = double.MaxValue;
        public double Max;
        public double Sum;
        public int Samples;
        public DateTimeOffset? LastSeen;
        public string? Error;
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        lock (_gate) _hosts = Load(home);
        _loop = KeepConnectedAsync(_stopping.Token);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync();
        await _loop.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    public IReadOnlyList<MeshHost> Hosts
    {
        get { lock (_gate) return [.. _hosts]; }
    }

    /// <summary>Adds a host and dials it now; returns its status (offline with the error when the dial failed).</summary>
    public async Task<MeshHostStatus> AddAsync(string address, string? name, CancellationToken cancellationToken)
    {
        var parsed = Multiaddr.Parse(address);
        name = string.IsNullOrWhiteSpace(name) ? address : name.Trim();
        if (name.Length > 128 || name.Any(char.IsControl)) throw new Api.ApiException(400, "a mesh name is at most 128 printable characters");
        MeshHost entry;
        lock (_gate)
        {
            if (_hosts.Count >= MaxHosts) throw new Api.ApiException(409, $"the mesh already has {MaxHosts} hosts");
            if (_hosts.Any(h => h.Name == name)) throw new Api.ApiException(409, $"a mesh host named '{name}' exists already");
            if (_hosts.Any(h => h.Address == address)) throw new Api.ApiException(409, $"{address} is in the mesh already");
            entry = new MeshHost(name, address, parsed.GetPeerId()?.ToString(), DateTimeOffset.UtcNow);
            _hosts.Add(entry);
            Save();
        }
        await EnsureConnectedAsync(entry, cancellationToken);
        return Status(Find(name) ?? entry);
    }

    /// <summary>Removes a host by name or peer id; returns it, or null when unknown.</summary>
    public MeshHost? Remove(string nameOrPeer)
    {
        MeshHost? removed;
        lock (_gate)
        {
            removed = _hosts.FirstOrDefault(h => h.Name == nameOrPeer) ?? _hosts.FirstOrDefault(h => h.PeerId == nameOrPeer);
            if (removed is null) return null;
            _hosts.Remove(removed);
            _stats.Remove(removed.Name);
            Save();
        }
        if (removed.PeerId is { } peer && PeerId.TryParse(peer, out var id)) host.ConnectionManager.Unprotect(id, ProtectionTag);
        return removed;
    }

    public IReadOnlyList<MeshHostStatus> List() => [.. Hosts.Select(Status)];

    /// <summary>Pings every host now (dialing those not connected) and returns their status.</summary>
    public async Task<IReadOnlyList<MeshHostStatus>> HealthAsync(int count, CancellationToken cancellationToken)
    {
        var hosts = Hosts;
        await Task.WhenAll(hosts.Select(async h =>
        {
            if (await EnsureConnectedAsync(h, cancellationToken) is { } peer) await PingAsync(h.Name, peer, count, cancellationToken);
        }));
        return [.. Hosts.Select(Status)];
    }

    private MeshHost? Find(string name)
    {
        lock (_gate) return _hosts.FirstOrDefault(h => h.Name == name);
    }

    private MeshHostStatus Status(MeshHost h)
    {
        PeerId? id = h.PeerId is { } p && PeerId.TryParse(p, out var parsed) ? parsed : null;
        bool online = id is not null && host.GetConnections(id).Count > 0;
        // Before our own pings, the node's latency sample of the peer (every new peer gets one ping).
        double? known = id is not null ? host.PeerStore.GetLatency(id)?.Current.TotalMilliseconds : null;
        lock (_gate)
        {
            _stats.TryGetValue(h.Name, out var s);
            return new MeshHostStatus(h.Name, h.Address, h.PeerId, online, s?.Current ?? known, s is { Samples: > 0 } ? s.Min : null,
                s is { Samples: > 0 } ? s.Sum / s.Samples : null, s is { Samples: > 0 } ? s.Max : null, s?.Samples ?? 0, s?.LastSeen,
                online ? null : s?.Error);
        }
    }

    /// <summary>Dials the host unless connected; pins its peer id on the first connection. Null when unreachable.</summary>
    private async Task<PeerId?> EnsureConnectedAsync(MeshHost entry, CancellationToken cancellationToken)
    {
        try
        {
            var address = Multiaddr.Parse(entry.Address);
            if (entry.PeerId is { } pinned && address.GetPeerId() is null) address = address.Encapsulate($"/p2p/{pinned}");
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(DialTimeout);
            var connection = await host.DialAsync(address, timeout.Token);
            var peer = connection.RemotePeer;
            host.ConnectionManager.Protect(peer, ProtectionTag);
            lock (_gate)
            {
                int index = _hosts.FindIndex(h => h.Name == entry.Name);
                if (index >= 0 && _hosts[index].PeerId is null)
                {
                    _hosts[index] = _hosts[index] with { PeerId = peer.ToString() };
                    Save();
                }
                Touch(entry.Name).LastSeen = DateTimeOffset.UtcNow;
                Touch(entry.Name).Error = null;
            }
            return peer;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            lock (_gate) Touch(entry.Name).Error = e.Message;
            LogUnreachable(entry.Name, e.Message);
            return null;
        }
    }

    private async Task PingAsync(string name, PeerId peer, int count, CancellationToken cancellationToken)
    {
        try
        {
            var rtts = await ping.PingAsync(peer, count, cancellationToken);
            lock (_gate)
            {
                var s = Touch(name);
                foreach (var rtt in rtts)
                {
                    double ms = rtt.TotalMilliseconds;
                    s.Current = ms;
                    s.Min = Math.Min(s.Min, ms);
                    s.Max = Math.Max(s.Max, ms);
                    s.Sum += ms;
                    s.Samples++;
                }
                s.LastSeen = DateTimeOffset.UtcNow;
                s.Error = null;
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            lock (_gate) Touch(name).Error = e.Message;
        }
    }

    private Stats Touch(string name)
    {
        if (!_stats.TryGetValue(name, out var s)) _stats[name] = s = new Stats();
        return s;
    }

    private async Task KeepConnectedAsync(CancellationToken token)
    {
        using var timer = new PeriodicTimer(CheckInterval);
        try
        {
            do
            {
                await Task.WhenAll(Hosts.Select(async h =>
                {
                    if (await EnsureConnectedAsync(h, token) is { } peer) await PingAsync(h.Name, peer, 1, token);
                }));
            }
            while (await timer.WaitForNextTickAsync(token));
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Save() => PrivateFile.WriteAtomically(home.MeshPath, JsonSerializer.SerializeToUtf8Bytes(_hosts, CliOutput.JsonOptions));

    private static List<MeshHost> Load(NodeHome home)
    {
        if (!File.Exists(home.MeshPath)) return [];
        try
        {
            return JsonSerializer.Deserialize<List<MeshHost>>(File.ReadAllBytes(home.MeshPath), CliOutput.JsonOptions) ?? [];
        }
        catch (JsonException e)
        {
            throw new CliException($"{home.MeshPath} is not valid JSON: {e.Message}", inner: e);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "mesh host {Name} unreachable: {Reason}")]
    private partial void LogUnreachable(string name, string reason);
}
