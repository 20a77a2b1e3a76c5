using System.Diagnostics;
using System.Security.Cryptography;

namespace P2PStack.Discovery.Rendezvous.Tests;

/// <summary>
/// interop/rendezvous with node_modules matching its package-lock.json: <c>npm ci --ignore-scripts</c> once per run
/// and across processes (a lock file). Scripts are skipped: the package's server needs a native SQLite build that
/// the tests do not use; its client is plain JavaScript.
/// </summary>
internal static class NpmDirectory
{
    private const string HashFile = ".p2pstack-lock-hash";
    private static readonly Lazy<Task<string>> Installed = new(() => Task.Run(InstallAsync));

    public static Task<string> EnsureInstalledAsync() => Installed.Value;

    private static string Directory
    {
        get
        {
            string? dir = AppContext.BaseDirectory;
            while (dir is not null && !File.Exists(Path.Combine(dir, "P2PStack.sln"))) dir = Path.GetDirectoryName(dir);
            return Path.Combine(dir ?? throw new InvalidOperationException("P2PStack.sln not found above the test assembly"), "interop", "rendezvous");
        }
    }

    private static async Task<string> InstallAsync()
    {
        string directory = Directory;
        string expected = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(directory, "package-lock.json"))));
        string hashPath = Path.Combine(directory, "node_modules", HashFile);
        if (File.Exists(hashPath) && File.ReadAllText(hashPath).Trim() == expected) return directory;
        var waited = Stopwatch.StartNew();
        FileStream? lockFile = null;
        while (lockFile is null)
        {
            try
            {
                lockFile = new FileStream(Path.Combine(directory, ".npm-install.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (waited.Elapsed < TimeSpan.FromMinutes(12))
            {
                await Task.Delay(250);
            }
        }
        using (lockFile)
        {
            if (File.Exists(hashPath) && File.ReadAllText(hashPath).Trim() == expected) return directory;
            var start = new ProcessStartInfo("npm", "ci --ignore-scripts --no-audit --no-fund")
            {
                WorkingDirectory = directory,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
                UseShellExecute = false,
            };
            using var npm = Process.Start(start) ?? throw new InvalidOperationException("npm did not start");
            npm.StandardInput.Close();
            var output = npm.StandardOutput.ReadToEndAsync();
            var errors = npm.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
            await npm.WaitForExitAsync(timeout.Token);
            if (npm.ExitCode != 0) throw new InvalidOperationException($"npm ci in {directory} failed ({npm.ExitCode}): {await output}{await errors}");
            File.WriteAllText(hashPath, expected);
        }
        return directory;
    }
}
