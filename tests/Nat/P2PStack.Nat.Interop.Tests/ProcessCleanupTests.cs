using System.Security.Cryptography;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using P2PStack.Interop.Support;
using P2PStack.Nat.Testing;

namespace P2PStack.Nat.Interop.Tests;

/// <summary>
/// Test processes never outlive their tests: a js peer left running from a test class whose dispose xUnit never called
/// spun at 17% CPU for hours. A start that fails kills its process; a js peer stops by itself when its controller goes
/// (its stdin closes), even with a relay reservation open; and no test class relies on IAsyncDisposable, which xUnit 2
/// ignores on test classes (IAsyncLifetime is what it calls).
/// </summary>
public sealed partial class ProcessCleanupTests
{
    private static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task APeerWhoseStartIsCancelledIsKilled()
    {
        // A process that never prints a ready line, marked by a unique argument so that we can look for it.
        string marker = $"86399.{RandomNumberGenerator.GetInt32(100_000, 999_999)}";
        using var cancel = new CancellationTokenSource();
        var starting = JsonLinesPeer.StartLocalAsync("sleep", [marker], HangGuard, cancel.Token);
        await Poll.UntilAsync(() => Running(marker), "the process to start", HangGuard);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => starting);
        await Poll.UntilAsync(() => !Running(marker), "the process to be gone", HangGuard);
    }

    [Fact]
    public async Task APeerThatExitsBeforeItIsReadyFailsTheStartWithItsOutput()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(
            () => JsonLinesPeer.StartLocalAsync("sh", ["-c", "echo no ready line here >&2; exit 3"], HangGuard, CancellationToken.None));
        Assert.Contains("did not become ready", error.Message);
        Assert.Contains("no ready line here", error.Message);
    }

    [Fact]
    public async Task AJsRelayWithAReservationStopsByItselfWhenItsStdinCloses()
    {
        await using var relay = await Peers.JsAsync(null, ["--listen", "/ip4/127.0.0.1/tcp/0", "--relay-service"], CancellationToken.None);
        await using var node = await Peers.CSharpAsync(null, ["--listen", "/ip4/127.0.0.1/tcp/0"], CancellationToken.None);
        await node.CommandAsync("dial", new JsonObject { ["addr"] = relay.Address().ToString() });
        await node.CommandAsync("reserve", new JsonObject { ["relay"] = relay.PeerId().ToString() });

        // What the test host's death does to it: the end of its stdin, no signal.
        relay.Process.StandardInput.Close();
        await relay.Process.Exited.WaitAsync(HangGuard);
    }

    /// <summary>Every public *Tests class under tests/ that cleans up asynchronously does it through IAsyncLifetime.</summary>
    [Fact]
    public void NoTestClassReliesOnIAsyncDisposable()
    {
        string tests = Path.Combine(JsPeerInstall.RepositoryRoot, "tests");
        var offenders = new List<string>();
        foreach (string file in Directory.EnumerateFiles(tests, "*.cs", SearchOption.AllDirectories))
        {
            if (file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal)) continue;
            foreach (Match match in TestClassDeclaration().Matches(File.ReadAllText(file)))
            {
                string bases = match.Groups["bases"].Value;
                if (bases.Contains("IAsyncDisposable", StringComparison.Ordinal) && !bases.Contains("IAsyncLifetime", StringComparison.Ordinal))
                    offenders.Add($"{Path.GetRelativePath(tests, file)}: {match.Groups["name"].Value}");
            }
        }
        Assert.True(offenders.Count == 0, "test classes whose DisposeAsync xUnit 2 never calls (use IAsyncLifetime):\n" + string.Join('\n', offenders));
    }

    [GeneratedRegex(@"public\s+(?:sealed\s+|abstract\s+|partial\s+)*class\s+(?<name>\w+Tests)\b[^{;]*?:(?<bases>[^{;]*)\{")]
    private static partial Regex TestClassDeclaration();

    private static bool Running(string marker)
    {
        foreach (string dir in Directory.EnumerateDirectories("/proc"))
        {
            try
            {
                if (File.ReadAllText(Path.Combine(dir, "cmdline")).Contains(marker, StringComparison.Ordinal)) return true;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // a process that ended meanwhile, or not a process directory
            }
        }
        return false;
    }
}
