using System.Diagnostics;
using System.Text;
using System.Text.Json;

namespace SynapticMesh.Tests.Registry;

/// <summary>A <c>registry start --json</c> child process on 127.0.0.1 port 0; killed on dispose, whatever happened.</summary>
public sealed class RegistryProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stderr = new();
    private readonly Task _pump;

    private RegistryProcess(Process process, Uri url)
    {
        _process = process;
        Url = url;
        _pump = Task.Run(async () =>
        {
            char[] buffer = new char[4096];
            int read;
            while ((read = await process.StandardError.ReadAsync(buffer)) > 0)
            {
                lock (_stderr) _stderr.Append(buffer, 0, read);
            }
        });
    }

    public Uri Url { get; }

    public string Stderr
    {
        get { lock (_stderr) return _stderr.ToString(); }
    }

    public static async Task<RegistryProcess> StartAsync(TempHome home, params string[] args)
    {
        var process = Process.Start(CliProcess.StartInfo(
            ["registry", "start", "--json", "--home", home.Path, "--port", "0", "--bind", "127.0.0.1", .. args], null))!;
        try
        {
            process.StandardInput.Close();
            using var timeout = new CancellationTokenSource(NodeProcess.StartTimeout);
            string? line = await process.StandardOutput.ReadLineAsync(timeout.Token);
            if (line is null) throw new InvalidOperationException($"the registry exited before starting: {await process.StandardError.ReadToEndAsync(timeout.Token)}");
            using var json = JsonDocument.Parse(line);
            return new RegistryProcess(process, new Uri(json.RootElement.GetProperty("url").GetString()!));
        }
        catch
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            process.Dispose();
            throw;
        }
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
        await _pump.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _process.Dispose();
    }
}
