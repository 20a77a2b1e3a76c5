using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace SynapticMesh.Tests;

/// <summary>A <c>p2p start --json</c> child process on 127.0.0.1 port 0; killed on dispose, whatever happened.</summary>
public sealed class NodeProcess : IAsyncDisposable
{
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly StringBuilder _stderr = new();
    private readonly Task _stderrPump;

    private NodeProcess(Process process, TempHome home, JsonElement started, string? netns)
    {
        Process = process;
        Home = home;
        Netns = netns;
        StartLine = started;
        PeerId = started.GetProperty("peerId").GetString()!;
        Addresses = [.. started.GetProperty("addresses").EnumerateArray().Select(a => a.GetString()!)];
        _stderrPump = PumpAsync(process.StandardError, _stderr);
    }

    public Process Process { get; }

    /// <summary>The JSON line `p2p start --json` printed.</summary>
    public JsonElement StartLine { get; }

    public TempHome Home { get; }

    /// <summary>The network namespace the node runs in (its commands run there too), or null.</summary>
    public string? Netns { get; }

    public string PeerId { get; }

    public IReadOnlyList<string> Addresses { get; }

    /// <summary>The TCP listen address (with /p2p).</summary>
    public string TcpAddress => Addresses.First(a => !a.Contains("/ws/", StringComparison.Ordinal));

    public string Stderr
    {
        get { lock (_stderr) return _stderr.ToString(); }
    }

    /// <summary>Starts a node on <paramref name="home"/> (initialised already or not) and waits for its start line.</summary>
    public static Task<NodeProcess> StartAsync(TempHome home, string? passphrase = null, params string[] extraArgs) =>
        StartCoreAsync(home, passphrase, null, extraArgs);

    /// <summary>Starts a node inside a network namespace (a lab's, which kills it at the latest when it is removed).</summary>
    public static Task<NodeProcess> StartInNamespaceAsync(TempHome home, string netns) => StartCoreAsync(home, null, netns, []);

    private static async Task<NodeProcess> StartCoreAsync(TempHome home, string? passphrase, string? netns, string[] extraArgs)
    {
        var process = Process.Start(CliProcess.StartInfo(["p2p", "start", "--json", "--home", home.Path, .. extraArgs], passphrase, netns))!;
        try
        {
            process.StandardInput.Close();
            using var timeout = new CancellationTokenSource(StartTimeout);
            string? line = await process.StandardOutput.ReadLineAsync(timeout.Token);
            if (line is null)
            {
                string error = await process.StandardError.ReadToEndAsync(timeout.Token);
                throw new InvalidOperationException($"the node exited before starting: {error}");
            }
            using var json = JsonDocument.Parse(line);
            return new NodeProcess(process, home, json.RootElement.Clone(), netns);
        }
        catch
        {
            Kill(process);
            process.Dispose();
            throw;
        }
    }

    public Task<CliResult> RunAsync(params string[] args) => CliProcess.RunAsync([.. args, "--home", Home.Path], netns: Netns);

    /// <summary>Runs a command with <paramref name="stdin"/> as its standard input.</summary>
    public Task<CliResult> RunWithInputAsync(string stdin, params string[] args) => CliProcess.RunAsync([.. args, "--home", Home.Path], stdin: stdin);

    public async Task<JsonElement> RunJsonAsync(params string[] args)
    {
        var result = await RunAsync([.. args, "--json"]);
        Assert.True(result.ExitCode == 0, $"synaptic-mesh {string.Join(' ', args)} failed ({result.ExitCode}): {result.Stderr}");
        using var json = JsonDocument.Parse(result.Stdout);
        return json.RootElement.Clone();
    }

    public async ValueTask DisposeAsync()
    {
        Kill(Process);
        await Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        await _stderrPump.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        Process.Dispose();
    }

    private static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }
    }

    private static async Task PumpAsync(StreamReader reader, StringBuilder into)
    {
        char[] buffer = new char[4096];
        int read;
        while ((read = await reader.ReadAsync(buffer)) > 0)
        {
            lock (into) into.Append(buffer, 0, read);
        }
    }
}
