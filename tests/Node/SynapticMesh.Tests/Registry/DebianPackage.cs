using System.Diagnostics;
using System.Text;

namespace SynapticMesh.Tests.Registry;

/// <summary>
/// Installs a Debian package the tests need (<c>apt-get install -y --no-install-recommends</c>) once per machine:
/// guarded by a lock file in the temp directory so parallel test runs (and other worktrees) do not run apt at the
/// same time, and skipped when the package's binary is already there. Runs <c>apt-get update</c> first when the
/// package is unknown (a fresh machine's lists are empty).
/// </summary>
public static class DebianPackage
{
    private static readonly TimeSpan InstallTimeout = TimeSpan.FromMinutes(15);
    private static readonly string LockPath = Path.Combine(Path.GetTempPath(), "p2pstack-apt-install.lock");
    private static readonly Dictionary<string, Lazy<Task>> Installs = new(StringComparer.Ordinal);

    public static bool AptAvailable => File.Exists("/usr/bin/apt-get");

    /// <summary>The skip message when <paramref name="binary"/> is missing and apt cannot install it, else null.</summary>
    public static string? SkipReason(string package, string binary) =>
        File.Exists(binary) || AptAvailable ? null
            : $"{binary} is missing and apt-get is not available on this machine: this test needs Debian's '{package}' package (installed by the test on Debian; install it by hand elsewhere)";

    public static Task EnsureInstalledAsync(string package, string binary)
    {
        Lazy<Task> install;
        lock (Installs)
        {
            if (!Installs.TryGetValue(package, out install!))
                Installs[package] = install = new Lazy<Task>(() => Task.Run(() => Install(package, binary)));
        }
        return install.Value;
    }

    private static void Install(string package, string binary)
    {
        if (File.Exists(binary)) return;
        using var lockFile = AcquireLock();
        if (File.Exists(binary)) return; // another run installed it while we waited
        var (code, output) = Run("apt-get", $"install -y --no-install-recommends {package}");
        if (code != 0)
        {
            var (updateCode, updateOutput) = Run("apt-get", "update");
            if (updateCode != 0) throw new InvalidOperationException($"apt-get update failed ({updateCode}):\n{Tail(updateOutput)}");
            (code, output) = Run("apt-get", $"install -y --no-install-recommends {package}");
        }
        if (code != 0 || !File.Exists(binary))
            throw new InvalidOperationException($"apt-get install {package} failed ({code}) or did not provide {binary}:\n{Tail(output)}");
    }

    private static FileStream AcquireLock()
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return new FileStream(LockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (waited.Elapsed < InstallTimeout)
            {
                Thread.Sleep(500);
            }
        }
    }

    private static (int Code, string Output) Run(string file, string arguments)
    {
        var start = new ProcessStartInfo(file, arguments)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.Environment["DEBIAN_FRONTEND"] = "noninteractive";
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{file} did not start");
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.StandardInput.Close();
        if (!process.WaitForExit(InstallTimeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {arguments} did not finish within {InstallTimeout}");
        }
        process.WaitForExit();
        lock (output) return (process.ExitCode, output.ToString());
    }

    private static string Tail(string text) => text.Length <= 4000 ? text : "..." + text[^4000..];
}

/// <summary>A fact that needs a Debian package: skipped, saying why, only where the binary is missing and apt-get is too.</summary>
public sealed class DebianFactAttribute : FactAttribute
{
    public DebianFactAttribute(string package, string binary)
    {
        if (DebianPackage.SkipReason(package, binary) is { } reason) Skip = reason;
    }
}
