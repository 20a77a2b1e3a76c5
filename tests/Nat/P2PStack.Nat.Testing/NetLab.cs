using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using P2PStack.Interop.Support;

namespace P2PStack.Nat.Testing;

/// <summary>How a lab router translates addresses.</summary>
public enum NatBehaviour
{
    /// <summary>
    /// <c>MASQUERADE</c>: keeps the source port when it is free, so one local port maps to one public port whatever the
    /// destination (endpoint-independent mapping, the "cone" NAT hole punching needs); inbound packets pass only for
    /// connections already seen (address- and port-dependent filtering).
    /// </summary>
    EndpointIndependent,

    /// <summary><c>MASQUERADE --random-fully</c>: a fresh random public port for every connection (symmetric NAT):
    /// the port a peer observed is useless to anyone else, so hole punching cannot work.</summary>
    Symmetric,
}

/// <summary>
/// A small internet in network namespaces: a switch (a bridge in its own namespace) joining "public" hosts and the
/// WAN side of NAT routers, each router with a private LAN behind it. Public addresses are taken from 11.0.0.0/16, a
/// public range (so that address checks, ours and js-libp2p's, treat it as the internet); it exists only inside the
/// lab's namespaces. Every name carries the test process id and a random suffix, so labs of parallel test runs never
/// collide, and a lab left behind by a killed test run is removed by the next one. Dispose removes everything: the
/// processes started in the lab, then the namespaces (which takes their interfaces and iptables rules with them).
/// </summary>
public sealed class NetLab : IAsyncDisposable
{
    private const string Prefix = "p2pl-";
    private const string NetnsDirectory = "/run/netns";
    private static readonly Lazy<Task<string?>> Unavailable = new(() => Task.Run(ProbeAsync));
    private static readonly ConcurrentDictionary<NetLab, byte> Live = new();
    private static int _exitHookInstalled;

    private readonly string _id = $"{Environment.ProcessId}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";
    private readonly List<NetNamespace> _namespaces = [];
    private readonly List<LabProcess> _processes = [];
    private readonly Lock _lock = new();
    private int _nextPublicHost = 10;
    private int _nextRouter = 1;
    private int _nextSwitchPort;
    private bool _disposed;

    private NetLab()
    {
    }

    /// <summary>The namespace of the switch; it holds no host.</summary>
    public NetNamespace Switch { get; private set; } = null!;

    /// <summary>Why namespace tests cannot run on this machine (not root, or the kernel refuses namespaces), or null.</summary>
    public static Task<string?> UnavailableReasonAsync() => Unavailable.Value;

    /// <summary>Installs iproute2 and iptables if needed and builds the switch.</summary>
    /// <exception cref="NetLabUnavailableException">Namespaces cannot be created here; tests skip on it.</exception>
    public static async Task<NetLab> CreateAsync(CancellationToken cancellationToken)
    {
        string? reason = await UnavailableReasonAsync().ConfigureAwait(false);
        if (reason is not null) throw new NetLabUnavailableException(reason);
        await DebianPackages.EnsureAsync("iproute2", "iptables").ConfigureAwait(false);
        await RemoveAbandonedAsync().ConfigureAwait(false);
        InstallExitHook();
        var lab = new NetLab();
        Live[lab] = 0;
        try
        {
            lab.Switch = await lab.AddNamespaceAsync("switch", cancellationToken).ConfigureAwait(false);
            await lab.Switch.IpAsync(cancellationToken, "link", "add", "br0", "type", "bridge").ConfigureAwait(false);
            await lab.Switch.IpAsync(cancellationToken, "link", "set", "br0", "up").ConfigureAwait(false);
            return lab;
        }
        catch
        {
            await lab.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>A host on the public side: one interface on the switch with a public address, no NAT.</summary>
    public async Task<NetNamespace> AddPublicHostAsync(string label, CancellationToken cancellationToken)
    {
        int host;
        lock (_lock) host = _nextPublicHost++;
        var ns = await AddNamespaceAsync(label, cancellationToken).ConfigureAwait(false);
        var address = IPAddress.Parse($"11.0.0.{host}");
        await ConnectToSwitchAsync(ns, "eth0", address, cancellationToken).ConfigureAwait(false);
        ns.Address = address;
        return ns;
    }

    /// <summary>Adds another public address to a public host (e.g. the alternate address of a STUN server).</summary>
    public async Task<IPAddress> AddPublicAddressAsync(NetNamespace host, CancellationToken cancellationToken)
    {
        int index;
        lock (_lock) index = _nextPublicHost++;
        var address = IPAddress.Parse($"11.0.0.{index}");
        await host.IpAsync(cancellationToken, "addr", "add", $"{address}/16", "dev", "eth0").ConfigureAwait(false);
        return address;
    }

    /// <summary>
    /// A NAT router: its WAN interface <c>wan</c> on the switch with a public address, a LAN 192.168.N.0/24 behind it
    /// (the router is .1), forwarding on, and outbound connections translated as <paramref name="behaviour"/> says.
    /// Unsolicited inbound connections to the WAN address are dropped, as home routers do (not answered with a reset).
    /// </summary>
    /// <param name="iptables">The iptables flavour for the rules: <c>iptables</c> (nft) or <c>iptables-legacy</c>
    /// (what miniupnpd-iptables manipulates: its router must keep all its rules in the legacy tables).</param>
    /// <param name="privateWan">Give the WAN a private address (10.0.1.N, a NAT behind a carrier NAT) instead of a
    /// public one. Such a router reaches no public host; it serves gateway protocol tests (miniupnpd refuses to map then).</param>
    public async Task<NatRouter> AddNatRouterAsync(string label, NatBehaviour behaviour, CancellationToken cancellationToken,
        string iptables = "iptables", bool privateWan = false)
    {
        int index;
        lock (_lock) index = _nextRouter++;
        if (index > 250) throw new InvalidOperationException("a lab holds at most 250 routers");
        var ns = await AddNamespaceAsync(label, cancellationToken).ConfigureAwait(false);
        var wan = IPAddress.Parse(privateWan ? $"10.0.1.{index}" : $"11.0.1.{index}");
        await ConnectToSwitchAsync(ns, "wan", wan, cancellationToken).ConfigureAwait(false);
        ns.Address = wan;
        var router = new NatRouter(this, ns, behaviour, wan, index, iptables);
        await ns.ExecAsync(cancellationToken, "sysctl", "-qw", "net.ipv4.ip_forward=1").ConfigureAwait(false);
        string[] masquerade = behaviour == NatBehaviour.Symmetric
            ? ["-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE", "--random-fully"]
            : ["-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE"];
        await ns.ExecAsync(cancellationToken, iptables, masquerade).ConfigureAwait(false);
        await ns.ExecAsync(cancellationToken, iptables,
            "-A", "INPUT", "-i", "wan", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT").ConfigureAwait(false);
        await ns.ExecAsync(cancellationToken, iptables, "-A", "INPUT", "-i", "wan", "-j", "DROP").ConfigureAwait(false);
        return router;
    }

    /// <summary>A host on the router's LAN, with the router as its default gateway.</summary>
    public async Task<NetNamespace> AddHostBehindAsync(NatRouter router, string label, CancellationToken cancellationToken)
    {
        int host = router.NextHost();
        var ns = await AddNamespaceAsync(label, cancellationToken).ConfigureAwait(false);
        var address = IPAddress.Parse($"192.168.{router.Index}.{host}");
        string lan = $"lan{host}";
        await HostCommand.RunAsync("ip", ["link", "add", "name", lan, "netns", router.Namespace.Name, "type", "veth", "peer", "name", "eth0",
            "netns", ns.Name], cancellationToken).ConfigureAwait(false);
        if (!router.LanConfigured)
        {
            // All LAN ports share the router's .1 through a bridge, so any number of hosts can sit behind one router.
            await router.Namespace.IpAsync(cancellationToken, "link", "add", "lanbr", "type", "bridge").ConfigureAwait(false);
            await router.Namespace.IpAsync(cancellationToken, "addr", "add", $"{router.LanAddress}/24", "dev", "lanbr").ConfigureAwait(false);
            await router.Namespace.IpAsync(cancellationToken, "link", "set", "lanbr", "up").ConfigureAwait(false);
            router.LanConfigured = true;
        }
        await router.Namespace.IpAsync(cancellationToken, "link", "set", lan, "master", "lanbr").ConfigureAwait(false);
        await router.Namespace.IpAsync(cancellationToken, "link", "set", lan, "up").ConfigureAwait(false);
        await ns.IpAsync(cancellationToken, "addr", "add", $"{address}/24", "dev", "eth0").ConfigureAwait(false);
        await ns.IpAsync(cancellationToken, "link", "set", "eth0", "up").ConfigureAwait(false);
        await ns.IpAsync(cancellationToken, "route", "add", "default", "via", router.LanAddress.ToString()).ConfigureAwait(false);
        ns.Address = address;
        return ns;
    }

    internal void ThrowIfDisposed()
    {
        lock (_lock) ObjectDisposedException.ThrowIf(_disposed, this);
    }

    /// <summary>A process tracked by the lab (killed on dispose at the latest).</summary>
    internal void Track(LabProcess process)
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _processes.Add(process);
        }
    }

    private async Task<NetNamespace> AddNamespaceAsync(string label, CancellationToken cancellationToken)
    {
        string safe = new([.. label.Where(char.IsAsciiLetterOrDigit).Take(12)]);
        var ns = new NetNamespace(this, $"{Prefix}{_id}-{safe}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(2))}", label);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _namespaces.Add(ns); // before creating it, so a failure halfway is still cleaned up
        }
        await HostCommand.RunAsync("ip", ["netns", "add", ns.Name], cancellationToken).ConfigureAwait(false);
        await ns.IpAsync(cancellationToken, "link", "set", "lo", "up").ConfigureAwait(false);
        return ns;
    }

    private async Task ConnectToSwitchAsync(NetNamespace ns, string device, IPAddress address, CancellationToken cancellationToken)
    {
        string port;
        lock (_lock) port = $"p{_nextSwitchPort++}";
        await HostCommand.RunAsync("ip", ["link", "add", "name", device, "netns", ns.Name, "type", "veth", "peer", "name", port,
            "netns", Switch.Name], cancellationToken).ConfigureAwait(false);
        await Switch.IpAsync(cancellationToken, "link", "set", port, "master", "br0").ConfigureAwait(false);
        await Switch.IpAsync(cancellationToken, "link", "set", port, "up").ConfigureAwait(false);
        await ns.IpAsync(cancellationToken, "addr", "add", $"{address}/16", "dev", device).ConfigureAwait(false);
        await ns.IpAsync(cancellationToken, "link", "set", device, "up").ConfigureAwait(false);
    }

    /// <summary>Kills the lab's processes and deletes its namespaces; never throws.</summary>
    public async ValueTask DisposeAsync()
    {
        List<LabProcess> processes;
        List<NetNamespace> namespaces;
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            processes = [.. _processes];
            namespaces = [.. _namespaces];
        }
        foreach (var process in processes)
        {
            try
            {
                await process.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // keep cleaning: the namespaces below must go whatever happened to one process
            }
        }
        foreach (var ns in namespaces) await DeleteNamespaceAsync(ns.Name).ConfigureAwait(false);
        Live.TryRemove(this, out _);
    }

    private static async Task DeleteNamespaceAsync(string name)
    {
        try
        {
            // Daemons started inside (miniupnpd forks) would keep nothing alive, but their sockets would linger: kill them.
            var (code, pids) = await HostCommand.TryRunAsync("ip", ["netns", "pids", name], CancellationToken.None).ConfigureAwait(false);
            if (code == 0)
            {
                foreach (string pid in pids.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    await HostCommand.TryRunAsync("kill", ["-9", pid], CancellationToken.None).ConfigureAwait(false);
            }
            await HostCommand.TryRunAsync("ip", ["netns", "del", name], CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HostCommandException or TimeoutException or IOException)
        {
            // best effort: the next lab removes what is left (RemoveAbandonedAsync)
        }
    }

    /// <summary>Deletes namespaces of labs whose test process no longer runs (a run killed before it could clean up).</summary>
    private static async Task RemoveAbandonedAsync()
    {
        if (!Directory.Exists(NetnsDirectory)) return;
        foreach (string path in Directory.GetFiles(NetnsDirectory, Prefix + "*"))
        {
            string name = Path.GetFileName(path);
            string[] parts = name[Prefix.Length..].Split('-');
            if (parts.Length < 2 || !int.TryParse(parts[0], out int pid)) continue;
            if (Directory.Exists($"/proc/{pid}")) continue;
            await DeleteNamespaceAsync(name).ConfigureAwait(false);
        }
    }

    private static void InstallExitHook()
    {
        if (Interlocked.Exchange(ref _exitHookInstalled, 1) == 1) return;
        // A test host that exits with labs still open (a test that forgot to dispose, or Ctrl+C) removes them on the way out.
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            foreach (var lab in Live.Keys) lab.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(20));
        };
    }

    private static async Task<string?> ProbeAsync()
    {
        if (!OperatingSystem.IsLinux()) return "network namespaces need Linux";
        if (Environment.UserName != "root" && Environment.GetEnvironmentVariable("USER") != "root")
            return "network namespace tests need root (ip netns, iptables)";
        try
        {
            await DebianPackages.EnsureAsync("iproute2").ConfigureAwait(false);
        }
        catch (HostCommandException ex)
        {
            return $"iproute2 is missing and could not be installed: {ex.Message}";
        }
        string probe = $"{Prefix}{Environment.ProcessId}-probe-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}";
        var (code, output) = await HostCommand.TryRunAsync("ip", ["netns", "add", probe], CancellationToken.None).ConfigureAwait(false);
        if (code != 0) return $"the kernel refuses network namespaces here (`ip netns add` said: {output.Trim()})";
        try
        {
            var (vethCode, vethOutput) = await HostCommand.TryRunAsync("ip",
                ["link", "add", "name", "probe0", "netns", probe, "type", "veth", "peer", "name", "probe1", "netns", probe], CancellationToken.None).ConfigureAwait(false);
            if (vethCode != 0) return $"the kernel refuses veth pairs in namespaces here: {vethOutput.Trim()}";
        }
        finally
        {
            await HostCommand.TryRunAsync("ip", ["netns", "del", probe], CancellationToken.None).ConfigureAwait(false);
        }
        return null;
    }
}

/// <summary>Namespaces cannot be used on this machine; the message says why.</summary>
public sealed class NetLabUnavailableException(string reason) : InvalidOperationException(reason);
