using System.Collections.Concurrent;
using System.ComponentModel;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace P2PStack.Interop.Support;

/// <summary>
/// Makes sure interop/js/node_modules (or another interop/ project's) matches package-lock.json, running <c>npm ci</c>
/// when it does not: once per test run (a static lazy task per directory) and once across processes (a lock file), so
/// parallel test classes and parallel test assemblies never install at the same time. npm comes from PATH; Node 22
/// comes from the `node` package.
/// </summary>
public static class JsPeerInstall
{
    /// <summary>Written into node_modules after a successful install: the SHA-256 of package-lock.json.</summary>
    public const string HashFileName = ".p2pstack-lock-hash";

    private static readonly TimeSpan InstallTimeout = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan LockTimeout = TimeSpan.FromMinutes(12);
    private static readonly ConcurrentDictionary<string, Lazy<Task<string>>> Installed = new(StringComparer.Ordinal);

    /// <summary>The interop/js directory, installed and ready: run <see cref="NodePath"/> peer.mjs there.</summary>
    public static Task<string> EnsureInstalledAsync() => EnsureInstalledAsync(Directory);

    /// <summary>Another npm project of interop/ (its own package-lock.json), installed the same way.</summary>
    public static Task<string> EnsureInstalledAsync(string directory) =>
        Installed.GetOrAdd(Path.GetFullPath(directory), d => new Lazy<Task<string>>(() => Task.Run(() => EnsureInstalled(d)))).Value;

    public static string NodePath(string directory) => Path.Combine(directory, "node_modules", ".bin", "node");

    /// <summary>interop/js of the repository that holds this test assembly.</summary>
    public static string Directory => Path.Combine(RepositoryRoot, "interop", "js");

    /// <summary>The repository that holds this test assembly (where P2PStack.sln is).</summary>
    public static string RepositoryRoot
    {
        get
        {
            string? dir = AppContext.BaseDirectory;
            while (dir is not null && !File.Exists(Path.Combine(dir, "P2PStack.sln"))) dir = Path.GetDirectoryName(dir);
            return dir ?? throw new InvalidOperationException("Could not find P2PStack.sln above the test assembly.");
        }
    }

    private static string EnsureInstalled(string directory)
    {
        string expected = LockHash(directory);
        if (IsCurrent(directory, expected)) return directory;

        using var lockFile = AcquireLock(Path.Combine(directory, ".npm-install.lock"));
        if (IsCurrent(directory, expected)) return directory; // another process installed while we waited
        string hashFile = Path.Combine(directory, "node_modules", HashFileName);
        if (File.Exists(hashFile)) File.Delete(hashFile);

        var (code, output) = RunNpm(directory, "ci --no-audit --no-fund");
        if (code != 0)
            throw new InvalidOperationException($"`npm ci` in {directory} failed with exit code {code}; the interop tests need it:\n{Tail(output)}");
        if (!File.Exists(NodePath(directory)))
            throw new InvalidOperationException($"`npm ci` in {directory} succeeded but {NodePath(directory)} (Node 22 from the `node` package) is missing:\n{Tail(output)}");
        File.WriteAllText(hashFile, expected);
        return directory;
    }

    private static bool IsCurrent(string directory, string expected)
    {
        string hashFile = Path.Combine(directory, "node_modules", HashFileName);
        return File.Exists(hashFile) && File.ReadAllText(hashFile).Trim() == expected && File.Exists(NodePath(directory));
    }

    private static string LockHash(string directory)
    {
        string lockPath = Path.Combine(directory, "package-lock.json");
        if (!File.Exists(lockPath)) throw new InvalidOperationException($"{lockPath} is missing.");
        return Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(lockPath)));
    }

    private static FileStream AcquireLock(string path)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (deadline.Elapsed < LockTimeout)
            {
                Thread.Sleep(250); // another process is installing
            }
        }
    }

    private static (int Code, string Output) RunNpm(string directory, string arguments)
    {
        var start = new ProcessStartInfo("npm", arguments)
        {
            WorkingDirectory = directory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("npm did not start");
        }
        catch (Win32Exception e)
        {
            throw new InvalidOperationException(
                $"Cannot run `npm` ({e.Message}): the interop tests need Node.js (>= 20) and npm on PATH to install interop/js.", e);
        }
        using (process)
        {
            var output = new StringBuilder();
            process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
            process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            process.StandardInput.Close();
            if (!process.WaitForExit(InstallTimeout))
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"`npm {arguments}` in {directory} did not finish within {InstallTimeout}:\n{Tail(output.ToString())}");
            }
            process.WaitForExit(); // flush the redirected output
            lock (output) return (process.ExitCode, output.ToString());
        }
    }

    private static string Tail(string text, int max = 4000) => text.Length <= max ? text : "..." + text[^max..];
}
