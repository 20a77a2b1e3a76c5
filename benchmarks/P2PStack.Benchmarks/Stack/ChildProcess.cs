using System.Diagnostics;
using System.Text;
using System.Threading.Channels;

namespace P2PStack.Benchmarks.Stack;

/// <summary>A benchmark process started by <see cref="StackSuite"/>: stdout lines readable, stderr kept for errors.</summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly StringBuilder _stderr = new();
    private readonly string _name;
    private string? _lastLine;

    private ChildProcess(Process process, string name)
    {
        _process = process;
        _name = name;
    }

    public static ChildProcess Start(string file, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args) info.ArgumentList.Add(arg);
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var child = new ChildProcess(process, $"{Path.GetFileName(file)} {string.Join(' ', info.ArgumentList.Where(a => !a.EndsWith(".dll", StringComparison.Ordinal)))}");
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) child._lines.Writer.TryComplete();
            else child._lines.Writer.TryWrite(e.Data);
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (child._stderr)
            {
                if (child._stderr.Length < 64 * 1024) child._stderr.AppendLine(e.Data);
            }
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    public int Id => _process.Id;

    /// <summary>Waits for the first stdout line that starts with <paramref name="prefix"/>.</summary>
    public async Task<string> WaitForLineAsync(string prefix, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await foreach (var line in _lines.Reader.ReadAllAsync(cts.Token))
            {
                if (line.StartsWith(prefix, StringComparison.Ordinal)) return line;
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{_name}: no line starting with '{prefix}' within {timeout}. stderr:\n{Stderr}");
        }
        throw new InvalidOperationException($"{_name} ended before printing '{prefix}'. stderr:\n{Stderr}");
    }

    /// <summary>Waits for the process to exit successfully; returns its last stdout line (the JSON result).</summary>
    public async Task<string> WaitForResultAsync(TimeSpan timeout)
    {
        _process.StandardInput.Close();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await foreach (var line in _lines.Reader.ReadAllAsync(cts.Token)) _lastLine = line;
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{_name} did not finish within {timeout}. stderr:\n{Stderr}");
        }
        if (_process.ExitCode != 0 || _lastLine is null)
            throw new InvalidOperationException($"{_name} failed with exit code {_process.ExitCode}. stderr:\n{Stderr}");
        return _lastLine;
    }

    /// <summary>Waits for the process to exit successfully; returns its whole stdout (e.g. indented JSON).</summary>
    public async Task<string> WaitForOutputAsync(TimeSpan timeout)
    {
        _process.StandardInput.Close();
        var output = new StringBuilder();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await foreach (var line in _lines.Reader.ReadAllAsync(cts.Token)) output.AppendLine(line);
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{_name} did not finish within {timeout}. stderr:\n{Stderr}");
        }
        if (_process.ExitCode != 0)
            throw new InvalidOperationException($"{_name} failed with exit code {_process.ExitCode}. stderr:\n{Stderr}");
        return output.ToString();
    }

    private string Stderr
    {
        get
        {
            lock (_stderr) return _stderr.ToString();
        }
    }

    /// <summary>Closes stdin (servers stop on that) and waits; kills only this process if it does not exit.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.StandardInput.Close();
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                try
                {
                    await _process.WaitForExitAsync(cts.Token);
                }
                catch (OperationCanceledException)
                {
                    _process.Kill(entireProcessTree: false);
                }
            }
        }
        finally
        {
            _process.Dispose();
        }
    }
}
