using System.Diagnostics;
using System.Text.Json;

namespace SynapticMesh.Tests;

/// <summary>
/// A long-running command (<c>listen</c>, <c>subscribe</c>) as a child process: waits for its "listening" notice on
/// stderr, reads its stdout line by line, and is stopped with SIGTERM (or killed) on dispose.
/// </summary>
public sealed class CliStream : IAsyncDisposable
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private readonly Process _process;

    private CliStream(Process process) => _process = process;

    public static async Task<CliStream> StartAsync(NodeProcess node, params string[] args)
    {
        var process = Process.Start(CliProcess.StartInfo([.. args, "--home", node.Home.Path], null))!;
        process.StandardInput.Close();
        var stream = new CliStream(process);
        using var ready = new CancellationTokenSource(Patience);
        string? notice = await process.StandardError.ReadLineAsync(ready.Token);
        if (notice is null || !notice.Contains("(Ctrl+C to stop)", StringComparison.Ordinal))
        {
            await stream.DisposeAsync();
            Assert.Fail($"synaptic-mesh {string.Join(' ', args)} did not start: {notice}");
        }
        return stream;
    }

    public async Task<string> ReadLineAsync()
    {
        using var timeout = new CancellationTokenSource(Patience);
        return await _process.StandardOutput.ReadLineAsync(timeout.Token) ?? throw new InvalidOperationException("the command ended");
    }

    public async Task<JsonElement> ReadJsonAsync()
    {
        using var json = JsonDocument.Parse(await ReadLineAsync());
        return json.RootElement.Clone();
    }

    /// <summary>Ctrl+C: the command ends with exit code 0.</summary>
    public async Task<int> StopAsync()
    {
        CliProcess.SendSigterm(_process);
        await _process.WaitForExitAsync().WaitAsync(Patience);
        return _process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(Patience);
        }
        catch (InvalidOperationException)
        {
        }
        _process.Dispose();
    }
}

/// <summary>Polls a condition on running nodes until it holds (a hang guard, never a timing assertion).</summary>
public static class Eventually
{
    public static async Task<T> HoldsAsync<T>(Func<Task<T>> probe, Func<T, bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + CliStream.Patience;
        while (true)
        {
            var value = await probe();
            if (condition(value)) return value;
            Assert.True(DateTime.UtcNow < deadline, $"{what} did not happen within {CliStream.Patience}; last: {value}");
            await Task.Delay(250);
        }
    }
}
