using System.Diagnostics;
using System.Text;
using System.Text.Json;
using P2PStack.Interop.Support;

namespace P2PStack.Interop.Daemon.Tests;

/// <summary>One test of the run: its mocha full title, state (passed, failed, skipped) and why.</summary>
public sealed record SuiteTest(string FullTitle, string State, string? Reason, string? Error);

/// <summary>What `synaptic-mesh daemon --capabilities` says this build offers.</summary>
public sealed record Capabilities(IReadOnlyList<string> Transports, IReadOnlyList<string> Security, IReadOnlyList<string> Muxers,
    IReadOnlyList<string> PubSubRouters, bool Dht, bool Relay);

/// <summary>
/// Runs interop/daemon/run.mjs once for the test class: installs its pinned npm packages (Node 22 included), then
/// mocha runs the libp2p interop suite, our daemon client test and the pubsub cases the suite skips, with
/// `synaptic-mesh daemon` (the dll built beside this test assembly) as the suite's "go" implementation.
/// </summary>
public sealed class InteropRun : IAsyncLifetime
{
    /// <summary>Hang guard only: the run takes a few minutes on a loaded 2-core machine.</summary>
    private static readonly TimeSpan RunTimeout = TimeSpan.FromMinutes(25);

    private readonly StringBuilder _output = new();

    public IReadOnlyList<SuiteTest> Tests { get; private set; } = [];

    public Capabilities Capabilities { get; private set; } = null!;

    /// <summary>The runner's markdown summary (the table in docs/interop.md).</summary>
    public string Summary { get; private set; } = "";

    public string OutputTail
    {
        get
        {
            lock (_output) return _output.Length <= 8000 ? _output.ToString() : "..." + _output.ToString(_output.Length - 8000, 8000);
        }
    }

    /// <summary>Where the last run's results.json and summary.md are.</summary>
    public static string ResultsDirectory => Path.Combine(AppContext.BaseDirectory, "interop-daemon-results");

    /// <summary>artifacts/bin/P2PStack.Interop.Daemon.Tests/&lt;config&gt;/ -> artifacts/bin/SynapticMesh/&lt;config&gt;/synaptic-mesh.dll</summary>
    public static string DaemonDll
    {
        get
        {
            var testDirectory = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            string path = Path.Combine(testDirectory.Parent!.Parent!.FullName, "SynapticMesh", testDirectory.Name, "synaptic-mesh.dll");
            return File.Exists(path) ? path : throw new FileNotFoundException("synaptic-mesh.dll was not built", path);
        }
    }

    public async Task InitializeAsync()
    {
        string directory = await JsPeerInstall.EnsureInstalledAsync(Path.Combine(JsPeerInstall.RepositoryRoot, "interop", "daemon"));
        // Beside the test assembly (one per worktree and configuration), kept after the run: the latest results.json and
        // summary.md are there to read (docs/interop.md takes its table from summary.md).
        string results = ResultsDirectory;
        if (Directory.Exists(results)) Directory.Delete(results, recursive: true);
        int exitCode = await RunNodeAsync(directory, ["run.mjs", "--out", results]);
        string resultsFile = Path.Combine(results, "results.json");
        if (!File.Exists(resultsFile))
            throw new InvalidOperationException($"the interop runner exited with {exitCode} and wrote no results:\n{OutputTail}");
        using (var json = JsonDocument.Parse(await File.ReadAllTextAsync(resultsFile)))
        {
            Tests = [.. json.RootElement.GetProperty("tests").EnumerateArray().Select(t => new SuiteTest(
                t.GetProperty("fullTitle").GetString()!,
                t.GetProperty("state").GetString()!,
                t.TryGetProperty("reason", out var reason) ? reason.GetString() : null,
                t.TryGetProperty("error", out var error) ? error.GetString() : null))];
        }
        Summary = await File.ReadAllTextAsync(Path.Combine(results, "summary.md"));
        Capabilities = await ReadCapabilitiesAsync();
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private async Task<int> RunNodeAsync(string directory, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(JsPeerInstall.NodePath(directory))
        {
            WorkingDirectory = directory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        start.Environment["SYNAPTIC_MESH_DLL"] = DaemonDll;
        start.Environment.Remove("SYNAPTIC_MESH_HOME");
        using var process = Process.Start(start) ?? throw new InvalidOperationException("node run.mjs did not start");
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(RunTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"the interop runner did not finish within {RunTimeout}:\n{OutputTail}");
        }
        process.WaitForExit(); // flush the redirected output
        return process.ExitCode;
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_output) _output.AppendLine(line);
    }

    private static async Task<Capabilities> ReadCapabilitiesAsync()
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(DaemonDll);
        start.ArgumentList.Add("daemon");
        start.ArgumentList.Add("--capabilities");
        using var process = Process.Start(start)!;
        string stdout = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return JsonSerializer.Deserialize<Capabilities>(stdout, new JsonSerializerOptions(JsonSerializerDefaults.Web))
            ?? throw new InvalidOperationException($"no capabilities from the daemon: {stdout}");
    }
}
