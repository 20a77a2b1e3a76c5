using System.ComponentModel;
using System.Diagnostics;
using System.Text;

namespace P2PStack.Nat.Testing;

/// <summary>A command of the machine (ip, iptables, apt-get, ...) exited with an error.</summary>
public sealed class HostCommandException(string command, int exitCode, string output)
    : InvalidOperationException($"`{command}` failed with exit code {exitCode}:\n{Tail(output)}")
{
    public string Command { get; } = command;

    public int ExitCode { get; } = exitCode;

    public string Output { get; } = output;

    internal static string Tail(string text, int max = 4000) => text.Length <= max ? text : "..." + text[^max..];
}

/// <summary>Runs short-lived commands of the machine and collects their output.</summary>
public static class HostCommand
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromMinutes(2);

    /// <summary>Runs the command; throws <see cref="HostCommandException"/> on a non-zero exit.</summary>
    public static async Task<string> RunAsync(string fileName, IEnumerable<string> arguments, CancellationToken cancellationToken,
        TimeSpan? timeout = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var (code, output) = await TryRunAsync(fileName, arguments, cancellationToken, timeout, environment).ConfigureAwait(false);
        if (code != 0) throw new HostCommandException(Describe(fileName, arguments), code, output);
        return output;
    }

    public static Task<string> RunAsync(string fileName, params string[] arguments) =>
        RunAsync(fileName, arguments, CancellationToken.None);

    /// <summary>Runs the command and returns its exit code and combined output (stdout then stderr).</summary>
    public static async Task<(int ExitCode, string Output)> TryRunAsync(string fileName, IEnumerable<string> arguments,
        CancellationToken cancellationToken, TimeSpan? timeout = null, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        if (environment is not null)
        {
            foreach (var (key, value) in environment) start.Environment[key] = value;
        }
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"{fileName} did not start");
        }
        catch (Win32Exception e)
        {
            throw new HostCommandException(Describe(fileName, start.ArgumentList), -1, $"cannot run {fileName}: {e.Message}");
        }
        using (process)
        {
            process.StandardInput.Close();
            var stdout = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
            var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            limit.CancelAfter(timeout ?? DefaultTimeout);
            try
            {
                await process.WaitForExitAsync(limit.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
                cancellationToken.ThrowIfCancellationRequested();
                throw new TimeoutException($"`{Describe(fileName, start.ArgumentList)}` did not finish within {timeout ?? DefaultTimeout}");
            }
            var output = new StringBuilder(await stdout.ConfigureAwait(false));
            string errors = await stderr.ConfigureAwait(false);
            if (errors.Length > 0) output.Append(errors);
            return (process.ExitCode, output.ToString());
        }
    }

    internal static string Describe(string fileName, IEnumerable<string> arguments) =>
        string.Join(' ', new[] { fileName }.Concat(arguments.Select(a => a.Contains(' ') ? $"'{a}'" : a)));
}
