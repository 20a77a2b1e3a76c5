using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace SynapticMesh.Tests;

public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public string[] StderrLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>
    /// A user error: non-zero exit, exactly one line on stderr (<c>error: ...</c>, or with --json one JSON object
    /// <c>{"error","code","exitCode"}</c> whose exit code is the process's), no stack trace, no .NET internals.
    /// </summary>
    public void AssertOneLineError(string expectedFragment)
    {
        Assert.NotEqual(0, ExitCode);
        var line = Assert.Single(StderrLines);
        string message = line;
        if (line.StartsWith('{'))
        {
            using var json = System.Text.Json.JsonDocument.Parse(line);
            message = json.RootElement.GetProperty("error").GetString()!;
            Assert.False(string.IsNullOrEmpty(json.RootElement.GetProperty("code").GetString()));
            Assert.Equal(ExitCode, json.RootElement.GetProperty("exitCode").GetInt32());
        }
        else
        {
            Assert.StartsWith("error: ", line);
        }
        Assert.Contains(expectedFragment, message, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("(Parameter '", message, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", message, StringComparison.Ordinal);
        Assert.DoesNotContain(StderrLines, l => l.StartsWith("at ", StringComparison.Ordinal));
    }

    /// <summary>The JSON error a --json command printed on stderr.</summary>
    public System.Text.Json.JsonElement JsonError()
    {
        using var json = System.Text.Json.JsonDocument.Parse(Assert.Single(StderrLines));
        return json.RootElement.Clone();
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

    /// <param name="netns">Run inside this network namespace (<c>ip netns exec</c>; the node's control API is on the
    /// namespace's loopback, so commands for a node in a namespace run there too).</param>
    public static ProcessStartInfo StartInfo(IEnumerable<string> args, string? passphrase, string? netns = null)
    {
        var info = new ProcessStartInfo(netns is null ? "dotnet" : "ip")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
        };
        if (netns is not null)
        {
            foreach (string arg in new[] { "netns", "exec", netns, "dotnet" }) info.ArgumentList.Add(arg);
        }
        info.ArgumentList.Add(DllPath);
        foreach (var arg in args) info.ArgumentList.Add(arg);
        info.Environment.Remove("SYNAPTIC_MESH_HOME");
        info.Environment.Remove("SYNAPTIC_MESH_PASSPHRASE");
        if (passphrase is not null) info.Environment["SYNAPTIC_MESH_PASSPHRASE"] = passphrase;
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        // Nodes start as a user would, whatever this process runs with (an onion relay may ask for it itself).
        info.Environment.Remove("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS");
        info.Environment.Remove("DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT"); // the event threads the relay tests count
        return info;
    }

    public static async Task<CliResult> RunAsync(string[] args, string? passphrase = null, string? stdin = null, string? netns = null)
    {
        using var process = Process.Start(StartInfo(args, passphrase, netns))!;
        if (stdin is not null) await process.StandardInput.WriteAsync(stdin);
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
