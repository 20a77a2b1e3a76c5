using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace SynapticMesh.Tests;

public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public string[] StderrLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>A user error: non-zero exit, exactly one line on stderr, no stack trace.</summary>
    public void AssertOneLineError(string expectedFragment)
    {
        Assert.NotEqual(0, ExitCode);
        var line = Assert.Single(StderrLines);
        Assert.StartsWith("error: ", line);
        Assert.Contains(expectedFragment, line, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(StderrLines, l => l.StartsWith("at ", StringComparison.Ordinal));
    }
}

/// <summary>Runs the real synaptic-mesh executable (the dll built beside this test assembly) as a child process.</summary>
public static class CliProcess
{
    public static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(90);

    /// <summary>artifacts/bin/SynapticMesh.Tests/&lt;config&gt;/ -> artifacts/bin/SynapticMesh/&lt;config&gt;/synaptic-mesh.dll</summary>
    public static string DllPath
    {
        get
        {
            var testDirectory = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            string configuration = testDirectory.Name;
            string path = Path.Combine(testDirectory.Parent!.Parent!.FullName, "SynapticMesh", configuration, "synaptic-mesh.dll");
            if (!File.Exists(path)) throw new FileNotFoundException("synaptic-mesh.dll was not built", path);
            return path;
        }
    }

    public static ProcessStartInfo StartInfo(IEnumerable<string> args, string? passphrase)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        info.ArgumentList.Add(DllPath);
        foreach (var arg in args) info.ArgumentList.Add(arg);
        info.Environment.Remove("SYNAPTIC_MESH_HOME");
        info.Environment.Remove("SYNAPTIC_MESH_PASSPHRASE");
        if (passphrase is not null) info.Environment["SYNAPTIC_MESH_PASSPHRASE"] = passphrase;
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        return info;
    }

    public static async Task<CliResult> RunAsync(string[] args, string? passphrase = null)
    {
        using var process = Process.Start(StartInfo(args, passphrase))!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(CommandTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"synaptic-mesh {string.Join(' ', args)} did not finish in {CommandTimeout}");
        }
        return new CliResult(process.ExitCode, await stdout, await stderr);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);

    public static void SendSigterm(Process process) => Assert.Equal(0, kill(process.Id, 15));
}
