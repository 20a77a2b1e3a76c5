using System.ComponentModel;
using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;

namespace P2PStack.Interop.Discovery.Tests;

/// <summary>
/// Makes sure interop/js/node_modules matches package-lock.json, running <c>npm ci</c> when it does not: once per test
/// run (a lazy task) and once across processes (an exclusive lock on interop/js/.npm-install.lock, the same lock and
/// marker file the other interop test projects use), so two test assemblies never install into the folder at once.
/// </summary>
internal static class JsInstall
{
    /// <summary>Written into node_modules after a successful install: the SHA-256 of package-lock.json.</summary>
    private const string HashFileName = ".p2pstack-lock-hash";

    private static readonly TimeSpan InstallTimeout = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan LockTimeout = TimeSpan.FromMinutes(12);
    private static readonly Lazy<Task<string>> Installed = new(() => Task.Run(EnsureInstalled));

    /// <summary>The interop/js directory, installed and ready.</summary>
    public static Task<string> EnsureInstalledAsync() => Installed.Value;

    /// <summary>Node 22 from the pinned `node` package (js-libp2p 3 refuses older versions).</summary>
    public static string NodePath(string directory) => Path.Combine(directory, "node_modules", ".bin", "node");

    private static string Directory
    {
        get
        {
            string? dir = AppContext.BaseDirectory;
            while (dir is not null && !File.Exists(Path.Combine(dir, "P2PStack.sln"))) dir = Path.GetDirectoryName(dir);
            if (dir is null) throw new InvalidOperationException("Could not find P2PStack.sln above the test assembly.");
            return Path.Combine(dir, "interop", "js");
        }
    }

    private static string EnsureInstalled()
    {
        string directory = Directory;
        string expected = Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(Path.Combine(directory, "package-lock.json"))));
        if (IsCurrent(directory, expected)) return directory;

        using var lockFile = AcquireLock(Path.Combine(directory, ".npm-install.lock"));
        if (IsCurrent(directory, expected)) return directory; // another process installed while we waited
        string hashFile = Path.Combine(directory, "node_modules", HashFileName);
        if (File.Exists(hashFile)) File.Delete(hashFile);
        var (code, output) = RunNpm(directory, "ci --no-audit --no-fund");
        if (code != 0)
            throw new InvalidOperationException($"`npm ci` in {directory} failed with exit code {code}:\n{Tail(output)}");
        if (!File.Exists(NodePath(directory)))
            throw new InvalidOperationException($"`npm ci` in {directory} succeeded but {NodePath(directory)} is missing:\n{Tail(output)}");
        File.WriteAllText(hashFile, expected);
        return directory;
    }

    private static bool IsCurrent(string directory, string expected)
    {
        string hashFile = Path.Combine(directory, "node_modules", HashFileName);
        return File.Exists(hashFile) && File.ReadAllText(hashFile).Trim() == expected && File.Exists(NodePath(directory));
    }

    private static FileStream AcquireLock(string path)
    {
        var waited = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (waited.Elapsed < LockTimeout)
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
            throw new InvalidOperationException($"Cannot run `npm` ({e.Message}): the interop tests need Node.js and npm on PATH.", e);
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
                throw new TimeoutException($"`npm {arguments}` did not finish within {InstallTimeout}:\n{Tail(output.ToString())}");
            }
            process.WaitForExit();
            lock (output) return (process.ExitCode, output.ToString());
        }
    }

    private static string Tail(string text, int max = 4000) => text.Length <= max ? text : "..." + text[^max..];
}
