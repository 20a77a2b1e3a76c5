using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;

namespace P2PStack.Interop.Support;

/// <summary>
/// A long-running test process (a node, a js peer, a daemon in a lab namespace): its stdout lines are queued for the
/// test to read, the tail of its stderr (and of stdout) goes into failure messages. Disposing kills the whole process
/// tree. Every process started here is also killed when the test host exits (normal end, Ctrl+C, SIGTERM) if nothing
/// disposed it: a test that failed before its cleanup, a fixture whose initialisation threw, a class whose dispose
/// the test framework never called. Only SIGKILL of the test host escapes this; the js peers then stop by themselves
/// on the end of their stdin.
/// </summary>
public sealed class LabProcess : IAsyncDisposable
{
    private const int TailLines = 400;
    private static readonly ConcurrentDictionary<LabProcess, byte> Live = new();
    private static int _exitHookInstalled;
    private readonly ProcessStartInfo _start;
    private readonly Channel<string> _stdout = Channel.CreateUnbounded<string>();
    private readonly Channel<string> _all = Channel.CreateUnbounded<string>();
    private readonly ConcurrentQueue<string> _tail = new();
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Process? _process;
    private StreamWriter? _log;
    private int _disposed;

    private LabProcess(string label, ProcessStartInfo start)
    {
        Label = label;
        _start = start;
    }

    public string Label { get; }

    public int Id => _process?.Id ?? 0;

    public bool HasExited => _process?.HasExited ?? true;

    /// <summary>Completes when the process has exited.</summary>
    public Task Exited => _exited.Task;

    public StreamWriter StandardInput => (_process ?? throw new InvalidOperationException($"{Label} is not started")).StandardInput;

    /// <summary>Starts a process with its stdin, stdout and stderr redirected; the caller disposes it.</summary>
    public static LabProcess Start(string label, ProcessStartInfo start)
    {
        start.RedirectStandardInput = start.RedirectStandardOutput = start.RedirectStandardError = true;
        start.UseShellExecute = false;
        var process = new LabProcess(label, start);
        process.StartProcess();
        return process;
    }

    /// <summary>The processes started and not yet disposed (those the exit hook would kill).</summary>
    public static int LiveCount => Live.Count;

    private void StartProcess()
    {
        InstallExitHook();
        var process = new Process { StartInfo = _start, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                _stdout.Writer.TryComplete();
                return;
            }
            Remember("out: " + e.Data);
            _stdout.Writer.TryWrite(e.Data);
            _all.Writer.TryWrite(e.Data);
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            Remember("err: " + e.Data);
            _all.Writer.TryWrite(e.Data);
        };
        process.Exited += (_, _) =>
        {
            _exited.TrySetResult();
            _all.Writer.TryComplete();
        };
        if (!process.Start()) throw new InvalidOperationException($"{Label} did not start");
        _process = process;
        Live[this] = 0;
        // P2PSTACK_LAB_LOGS=<dir> keeps every line of every lab process (the tail in a failure message is short).
        if (Environment.GetEnvironmentVariable("P2PSTACK_LAB_LOGS") is { Length: > 0 } logs)
        {
            Directory.CreateDirectory(logs);
            string name = new([.. Label.Select(c => char.IsAsciiLetterOrDigit(c) ? c : '_')]);
            lock (_tail) _log = new StreamWriter(Path.Combine(logs, $"{DateTime.UtcNow:HHmmss}-{name}-{process.Id}.log")) { AutoFlush = true };
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    private static void InstallExitHook()
    {
        if (Interlocked.Exchange(ref _exitHookInstalled, 1) == 1) return;
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            foreach (var process in Live.Keys) process.Kill();
        };
    }

    private void Kill()
    {
        try
        {
            if (_process is { HasExited: false } process) process.Kill(entireProcessTree: true);
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            // exited meanwhile
        }
    }

    /// <summary>The next stdout line, or null when stdout has closed.</summary>
    public async Task<string?> ReadLineAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await _stdout.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            return null;
        }
    }

    /// <summary>Waits for a line (stdout or stderr) matching <paramref name="match"/>, skipping others.</summary>
    /// <exception cref="TimeoutException">No such line within <paramref name="timeout"/>, or the process ended first.</exception>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout);
        try
        {
            while (await _all.Reader.WaitToReadAsync(limit.Token).ConfigureAwait(false))
            {
                while (_all.Reader.TryRead(out string? line))
                {
                    if (match(line)) return line;
                }
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"{Label}: no expected output within {timeout}\n{Tail()}");
        }
        throw new TimeoutException($"{Label} ended before the expected output\n{Tail()}");
    }

    /// <summary>The last lines the process wrote (stdout and stderr), for failure messages.</summary>
    public string Tail() => $"{Label} output (tail):\n" + string.Join('\n', _tail);

    private void Remember(string line)
    {
        lock (_tail)
        {
            _log?.WriteLine(line);
        }
        _tail.Enqueue(line);
        while (_tail.Count > TailLines) _tail.TryDequeue(out _);
    }

    /// <summary>Asks the process to stop by closing its stdin, waits a little, then kills what is left.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1 || _process is not { } process) return;
        try
        {
            if (!process.HasExited)
            {
                try
                {
                    process.StandardInput.Close();
                }
                catch (IOException)
                {
                    // the process closed its stdin already
                }
                await _exited.Task.WaitAsync(TimeSpan.FromSeconds(3)).ConfigureAwait(false);
            }
        }
        catch (TimeoutException)
        {
            // killed below
        }
        finally
        {
            Kill();
            Live.TryRemove(this, out _);
            process.Dispose();
            lock (_tail)
            {
                _log?.Dispose();
                _log = null;
            }
        }
    }
}
