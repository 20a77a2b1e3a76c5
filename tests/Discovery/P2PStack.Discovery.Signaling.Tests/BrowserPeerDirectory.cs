using System.Diagnostics;
using System.Security.Cryptography;

namespace P2PStack.Discovery.Signaling.Tests;

/// <summary>interop/browser-peer installed (<c>npm ci</c>) and built (<c>node build.mjs</c>) once per lock-file hash,
/// under a lock file, as the other interop folders are.</summary>
internal static class BrowserPeerDirectory
{
    private const string HashFile = ".p2pstack-lock-hash";
    private static readonly Lazy<Task<string>> Installed = new(() => Task.Run(InstallAsync));

    public static Task<string> EnsureInstalledAsync() => Installed.Value;

    public static string Directory
    {
        get
        {
            string? dir = AppContext.BaseDirectory;
            while (dir is not null && !File.Exists(Path.Combine(dir, "P2PStack.sln"))) dir = Path.GetDirectoryName(dir);
            return Path.Combine(dir ?? throw new InvalidOperationException("P2PStack.sln not found above the test assembly"), "interop", "browser-peer");
        }
    }

    /// <summary>artifacts/test-artifacts/swarm under the repository root.</summary>
    public static string ArtifactDirectory
    {
        get
        {
            string path = Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(Directory)!)!, "artifacts", "test-artifacts", "swarm");
            System.IO.Directory.CreateDirectory(path);
            return path;
        }
    }

    private static async Task<string> InstallAsync()
    {
        string directory = Directory;
        // The page's own sources count too: a changed page.js must be bundled again.
        string expected = Convert.ToHexStringLower(SHA256.HashData(
            File.ReadAllBytes(Path.Combine(directory, "package-lock.json")).Concat(File.ReadAllBytes(Path.Combine(directory, "page.js"))).ToArray()));
        string hashPath = Path.Combine(directory, "node_modules", HashFile);
        bool Current() => File.Exists(hashPath) && File.ReadAllText(hashPath).Trim() == expected && File.Exists(Path.Combine(directory, "page.bundle.js"));
        if (Current()) return directory;
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
            if (Current()) return directory;
            await RunAsync(directory, "npm", "ci --no-audit --no-fund");
            await RunAsync(directory, "node", "build.mjs");
            File.WriteAllText(hashPath, expected);
        }
        return directory;
    }

    private static async Task RunAsync(string directory, string command, string arguments)
    {
        var start = new ProcessStartInfo(command, arguments)
        {
            WorkingDirectory = directory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{command} did not start");
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"`{command} {arguments}` in {directory} failed ({process.ExitCode}): {await output}{await errors}");
    }
}
