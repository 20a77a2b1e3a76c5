using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace SynapticMesh.Tests.Registry;

/// <summary>
/// interop/browser with its node_modules matching package-lock.json (<c>npm ci</c> once, under a lock file, as the
/// interop peers are installed), and Debian's chromium.
/// </summary>
public static class BrowserScript
{
    public const string Chromium = "/usr/bin/chromium";
    private const string HashFile = ".p2pstack-lock-hash";
    private static readonly Lazy<Task<string>> Installed = new(() => Task.Run(Install));

    public static string Directory
    {
        get
        {
            string? dir = AppContext.BaseDirectory;
            while (dir is not null && !File.Exists(Path.Combine(dir, "P2PStack.sln"))) dir = Path.GetDirectoryName(dir);
            return Path.Combine(dir ?? throw new InvalidOperationException("P2PStack.sln not found above the test assembly"), "interop", "browser");
        }
    }

    /// <summary>Where tests leave screenshots: artifacts/test-artifacts/registry under the repository root.</summary>
    public static string ArtifactDirectory
    {
        get
        {
            string path = Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(Directory)!)!, "artifacts", "test-artifacts", "registry");
            System.IO.Directory.CreateDirectory(path);
            return path;
        }
    }

    public static Task<string> EnsureInstalledAsync() => Installed.Value;

    private static async Task<string> Install()
    {
        await DebianPackage.EnsureInstalledAsync("chromium", Chromium);
        string directory = Directory;
        string expected = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(directory, "package-lock.json"))));
        string hashPath = Path.Combine(directory, "node_modules", HashFile);
        if (File.Exists(hashPath) && File.ReadAllText(hashPath).Trim() == expected) return directory;
        using (var lockFile = await LockAsync(Path.Combine(directory, ".npm-install.lock")))
        {
            if (File.Exists(hashPath) && File.ReadAllText(hashPath).Trim() == expected) return directory;
            var start = new ProcessStartInfo("npm", "ci --no-audit --no-fund")
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

    private static async Task<FileStream> LockAsync(string path)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (waited.Elapsed < TimeSpan.FromMinutes(12))
            {
                await Task.Delay(250);
            }
        }
    }

    /// <summary>Starts <c>node topology-check.mjs</c>; its stdout is read line by line by the test.</summary>
    public static Process Start(Uri registry, string screenshots)
    {
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = Directory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        foreach (var arg in new[] { "topology-check.mjs", registry.ToString(), screenshots, "120" }) start.ArgumentList.Add(arg);
        return Process.Start(start) ?? throw new InvalidOperationException("node did not start");
    }
}
