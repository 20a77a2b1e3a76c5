using System.Collections.Concurrent;
using System.Diagnostics;

namespace P2PStack.Nat.Testing;

/// <summary>
/// Installs the Debian packages a test needs (iptables, iproute2, coturn, miniupnpd-iptables) when they are missing:
/// CI starts from a machine with only the .NET SDK and Node. Installs are serialised in this process (one task per
/// package set) and across processes (a lock file beside apt's own lock); services the packages bring are not started
/// (a temporary policy-rc.d denies it when the machine has none).
/// </summary>
public static class DebianPackages
{
    private const string LockPath = "/tmp/p2pstack-apt-install.lock";
    private const string PolicyPath = "/usr/sbin/policy-rc.d";
    private static readonly TimeSpan InstallTimeout = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan LockTimeout = TimeSpan.FromMinutes(15);
    private static readonly ConcurrentDictionary<string, Lazy<Task>> Installs = new();
    private static readonly SemaphoreSlim InProcess = new(1, 1);
    private static readonly Dictionary<string, string> AptEnvironment = new()
    {
        ["DEBIAN_FRONTEND"] = "noninteractive",
        ["NEEDRESTART_MODE"] = "l",
    };

    /// <summary>Makes sure every package is installed; throws <see cref="HostCommandException"/> with apt's output if
    /// it cannot be.</summary>
    public static Task EnsureAsync(params string[] packages)
    {
        string key = string.Join(' ', packages.Order(StringComparer.Ordinal));
        return Installs.GetOrAdd(key, _ => new Lazy<Task>(() => Task.Run(() => InstallAsync(packages)))).Value;
    }

    /// <summary>Whether dpkg reports the package as installed.</summary>
    public static async Task<bool> IsInstalledAsync(string package)
    {
        var (code, output) = await HostCommand.TryRunAsync("dpkg-query", ["-W", "-f=${Status}", package], CancellationToken.None)
            .ConfigureAwait(false);
        return code == 0 && output.Contains("install ok installed", StringComparison.Ordinal);
    }

    private static async Task InstallAsync(string[] packages)
    {
        if (await AllInstalledAsync(packages).ConfigureAwait(false)) return;
        await InProcess.WaitAsync().ConfigureAwait(false);
        try
        {
            using var lockFile = await AcquireLockAsync().ConfigureAwait(false);
            if (await AllInstalledAsync(packages).ConfigureAwait(false)) return; // another process installed them
            bool ownPolicy = !File.Exists(PolicyPath);
            if (ownPolicy)
            {
                await File.WriteAllTextAsync(PolicyPath, "#!/bin/sh\n# written by the P2PStack tests during apt-get install\nexit 101\n").ConfigureAwait(false);
                if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(PolicyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            try
            {
                string[] install = ["-y", "-q", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=600", "install", .. packages];
                var (code, _) = await HostCommand.TryRunAsync("apt-get", install, CancellationToken.None, InstallTimeout, AptEnvironment)
                    .ConfigureAwait(false);
                if (code != 0)
                {
                    // A fresh machine has no package lists (or stale ones): update once, then the install must work.
                    await HostCommand.RunAsync("apt-get", ["-q", "-o", "DPkg::Lock::Timeout=600", "update"], CancellationToken.None,
                        InstallTimeout, AptEnvironment).ConfigureAwait(false);
                    await HostCommand.RunAsync("apt-get", install, CancellationToken.None, InstallTimeout, AptEnvironment).ConfigureAwait(false);
                }
            }
            finally
            {
                if (ownPolicy) File.Delete(PolicyPath);
            }
        }
        finally
        {
            InProcess.Release();
        }
    }

    private static async Task<bool> AllInstalledAsync(string[] packages)
    {
        foreach (string package in packages)
        {
            if (!await IsInstalledAsync(package).ConfigureAwait(false)) return false;
        }
        return true;
    }

    private static async Task<FileStream> AcquireLockAsync()
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return new FileStream(LockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (waited.Elapsed < LockTimeout)
            {
                await Task.Delay(250).ConfigureAwait(false); // another test process is installing
            }
        }
    }
}
