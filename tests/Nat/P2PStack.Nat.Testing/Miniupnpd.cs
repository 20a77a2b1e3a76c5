using System.Text.RegularExpressions;
using P2PStack.Interop.Support;

namespace P2PStack.Nat.Testing;

/// <summary>
/// Debian's miniupnpd (the <c>miniupnpd-iptables</c> build) serving UPnP IGD, NAT-PMP and PCP on a lab router's
/// LAN. Its rules live in the iptables-legacy tables, so the router must be made with <c>iptables-legacy</c>; the
/// chains its init script would create (that script needs files of another package) are created here.
/// </summary>
public sealed partial class Miniupnpd : IAsyncDisposable
{
    private readonly LabProcess _process;
    private readonly string _directory;

    private Miniupnpd(LabProcess process, string directory, int httpPort)
    {
        _process = process;
        _directory = directory;
        HttpPort = httpPort;
    }

    /// <summary>The port of its HTTP server (device description and SOAP control) on the router's LAN address.</summary>
    public int HttpPort { get; }

    public static async Task<Miniupnpd> StartAsync(NatRouter router, CancellationToken cancellationToken)
    {
        if (router.Iptables != "iptables-legacy")
            throw new ArgumentException("miniupnpd-iptables writes iptables-legacy rules: make the router with iptables: \"iptables-legacy\"");
        await DebianPackages.EnsureAsync("miniupnpd-iptables").ConfigureAwait(false);
        var ns = router.Namespace;
        foreach (string table in new[] { "nat", "mangle", "filter" })
            await ns.ExecAsync(cancellationToken, router.Iptables, "-t", table, "-N", "MINIUPNPD").ConfigureAwait(false);
        await ns.ExecAsync(cancellationToken, router.Iptables, "-t", "nat", "-N", "MINIUPNPD-POSTROUTING").ConfigureAwait(false);
        await ns.ExecAsync(cancellationToken, router.Iptables, "-t", "nat", "-I", "PREROUTING", "-i", "wan", "-j", "MINIUPNPD").ConfigureAwait(false);
        await ns.ExecAsync(cancellationToken, router.Iptables, "-t", "mangle", "-I", "PREROUTING", "-i", "wan", "-j", "MINIUPNPD").ConfigureAwait(false);
        await ns.ExecAsync(cancellationToken, router.Iptables, "-t", "filter", "-I", "FORWARD", "-i", "wan", "!", "-o", "wan", "-j", "MINIUPNPD").ConfigureAwait(false);
        await ns.ExecAsync(cancellationToken, router.Iptables, "-t", "nat", "-I", "POSTROUTING", "-o", "wan", "-j", "MINIUPNPD-POSTROUTING").ConfigureAwait(false);

        string directory = Directory.CreateTempSubdirectory("p2pstack-miniupnpd-").FullName;
        string config = Path.Combine(directory, "miniupnpd.conf");
        await File.WriteAllTextAsync(config, $"""
            ext_ifname=wan
            listening_ip=lanbr
            http_port=0
            enable_natpmp=yes
            enable_upnp=yes
            secure_mode=yes
            system_uptime=yes
            lease_file={Path.Combine(directory, "leases")}
            uuid={Guid.NewGuid()}
            allow 1024-65535 192.168.0.0/16 1024-65535
            deny 0-65535 0.0.0.0/0 0-65535

            """, cancellationToken).ConfigureAwait(false);
        var process = ns.Start("miniupnpd", ["-d", "-f", config, "-P", Path.Combine(directory, "miniupnpd.pid")]);
        try
        {
            string http = await process.WaitForLineAsync(l => l.Contains("HTTP listening on port", StringComparison.Ordinal),
                TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
            int port = int.Parse(HttpPortPattern().Match(http).Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            await process.WaitForLineAsync(l => l.Contains("Listening for NAT-PMP/PCP traffic", StringComparison.Ordinal),
                TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
            return new Miniupnpd(process, directory, port);
        }
        catch
        {
            await process.DisposeAsync().ConfigureAwait(false);
            Directory.Delete(directory, recursive: true);
            throw;
        }
    }

    /// <summary>What miniupnpd logged (it says why it refuses).</summary>
    public string Tail() => _process.Tail();

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync().ConfigureAwait(false);
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // left in /tmp: harmless
        }
    }

    [GeneratedRegex(@"HTTP listening on port (\d+)")]
    private static partial Regex HttpPortPattern();
}
