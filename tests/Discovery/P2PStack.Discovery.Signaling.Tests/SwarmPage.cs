using System.Diagnostics;
using System.Text.Json;

namespace P2PStack.Discovery.Signaling.Tests;

/// <summary>
/// interop/browser-peer/swarm-check.mjs as a child process: the page in Debian's headless chromium, joined to a swarm
/// through a signaling host, driven by the JSON-lines commands documented at the top of that script. Killed (with
/// chromium) on dispose, whatever happened. Shared with the CLI tests in tests/Node/SynapticMesh.Tests.
/// </summary>
internal sealed class SwarmPage : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Task<string> _stderr;

    private SwarmPage(Process process)
    {
        _process = process;
        _stderr = process.StandardError.ReadToEndAsync();
    }

    /// <summary>The page's peer id, from its first ready line.</summary>
    public string PeerId { get; private set; } = "";

    /// <summary>Installs chromium and the page's npm packages if needed, opens the page and waits until it joined.</summary>
    /// <param name="host">The host's /ws or /wss address with /p2p.</param>
    /// <param name="tls">Certificate and key PEM paths: the page is served over https.</param>
    public static async Task<SwarmPage> OpenAsync(string host, string swarm, TimeSpan interval, CancellationToken cancellationToken, params string[] tls)
    {
        await SynapticMesh.Tests.Registry.DebianPackage.EnsureInstalledAsync("chromium", "/usr/bin/chromium");
        string directory = await BrowserPeerDirectory.EnsureInstalledAsync();
        var start = new ProcessStartInfo("node")
        {
            WorkingDirectory = directory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = System.Text.Encoding.UTF8,
        };
        string[] args = ["swarm-check.mjs", host, swarm, ((int)interval.TotalMilliseconds).ToString(System.Globalization.CultureInfo.InvariantCulture),
            BrowserPeerDirectory.ArtifactDirectory, "180", .. tls];
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        var page = new SwarmPage(Process.Start(start) ?? throw new InvalidOperationException("node did not start"));
        try
        {
            page.PeerId = (await page.ReadAsync("ready", cancellationToken)).GetProperty("peerId").GetString()!;
            return page;
        }
        catch
        {
            await page.DisposeAsync();
            throw;
        }
    }

    /// <summary>Sends one command and returns the answer, which must be the <paramref name="expected"/> event.</summary>
    public async Task<JsonElement> CommandAsync(object command, string expected, CancellationToken cancellationToken)
    {
        await _process.StandardInput.WriteLineAsync(JsonSerializer.Serialize(command));
        await _process.StandardInput.FlushAsync(cancellationToken);
        return await ReadAsync(expected, cancellationToken);
    }

    /// <summary>Waits until the page's member table holds exactly <paramref name="peers"/>; returns the ms it waited.</summary>
    public async Task<int> MembersAsync(IEnumerable<string> peers, CancellationToken cancellationToken) =>
        (await CommandAsync(new { cmd = "members", peers }, "members", cancellationToken)).GetProperty("elapsedMs").GetInt32();

    /// <summary>Starts waiting until the page dropped <paramref name="peer"/>; the task gives the reason (left or expired).</summary>
    public async Task<string> GoneAsync(string peer, CancellationToken cancellationToken) =>
        (await CommandAsync(new { cmd = "gone", peer }, "gone", cancellationToken)).GetProperty("reason").GetString()!;

    public Task SendAsync(string text, CancellationToken cancellationToken) => CommandAsync(new { cmd = "send", text }, "sent", cancellationToken);

    /// <summary>Waits for a thought with this text; returns its sender.</summary>
    public async Task<string> ReceivedAsync(string text, CancellationToken cancellationToken) =>
        (await CommandAsync(new { cmd = "received", text }, "received", cancellationToken)).GetProperty("from").GetString()!;

    /// <summary>Sends a direct thought to <paramref name="peer"/>, written to the page's host, which forwards it.</summary>
    public Task SendDirectAsync(string peer, string text, CancellationToken cancellationToken) =>
        CommandAsync(new { cmd = "direct", peer, text }, "sent", cancellationToken);

    /// <summary>Waits for a direct thought to the page with this text; returns its sender.</summary>
    public async Task<string> DirectReceivedAsync(string text, CancellationToken cancellationToken) =>
        (await CommandAsync(new { cmd = "directReceived", text }, "directReceived", cancellationToken)).GetProperty("from").GetString()!;

    /// <summary>Reloads the page and waits until it joined again; returns its peer id then.</summary>
    public async Task<string> ReloadAsync(CancellationToken cancellationToken) =>
        (await CommandAsync(new { cmd = "reload" }, "ready", cancellationToken)).GetProperty("peerId").GetString()!;

    public Task ScreenshotAsync(string name, CancellationToken cancellationToken) => CommandAsync(new { cmd = "screenshot", name }, "screenshot", cancellationToken);

    /// <summary>Closes the page; returns the errors it recorded and the uncaught errors of its console.</summary>
    public async Task<(string[] Errors, string[] ConsoleErrors)> QuitAsync(CancellationToken cancellationToken)
    {
        var quit = await CommandAsync(new { cmd = "quit" }, "quit", cancellationToken);
        return ([.. quit.GetProperty("errors").EnumerateArray().Select(e => e.GetString()!)],
            [.. quit.GetProperty("consoleErrors").EnumerateArray().Select(e => e.GetString()!)]);
    }

    private async Task<JsonElement> ReadAsync(string expected, CancellationToken cancellationToken)
    {
        string? line = await _process.StandardOutput.ReadLineAsync(cancellationToken);
        if (line is null)
        {
            await _process.WaitForExitAsync(cancellationToken);
            throw new InvalidOperationException($"the browser script ended early ({_process.ExitCode}): {await _stderr}");
        }
        using var json = JsonDocument.Parse(line);
        var root = json.RootElement.Clone();
        string evt = root.GetProperty("event").GetString()!;
        if (evt != expected) throw new InvalidOperationException($"browser script: expected {expected}, got {line}");
        return root;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        _process.Dispose();
    }
}
