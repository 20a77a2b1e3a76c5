using System.Diagnostics;
using System.Globalization;

namespace SynapticMesh.Cli;

/// <summary>
/// A one-line activity indicator on stderr for long operations (perf transfers, discovery, DHT queries, circuit
/// builds...): a spinner, what is going on and the time elapsed, redrawn in place and erased when disposed. It is
/// only drawn when stderr is a terminal and the command does not print JSON (<see cref="CliOutput.Progress"/>
/// returns <see cref="None"/> otherwise), so logs, pipes and scripts never see it.
/// </summary>
public sealed class Progress : IAsyncDisposable, IDisposable
{
    /// <summary>A progress that draws nothing.</summary>
    public static readonly Progress None = new();

    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(120);
    private static readonly string[] Frames = ["|", "/", "-", "\\"];

    private readonly TextWriter? _writer;
    private readonly Lock _gate = new();
    private readonly Stopwatch _elapsed = Stopwatch.StartNew();
    private readonly CancellationTokenSource? _stop;
    private readonly Task _loop = Task.CompletedTask;
    private string _status;
    private int _frame;
    private int _drawnWidth;
    private bool _disposed;

    private Progress()
    {
        _status = "";
    }

    /// <param name="writer">The terminal (stderr).</param>
    /// <param name="status">What is going on, e.g. "searching the DHT".</param>
    public Progress(TextWriter writer, string status)
    {
        _writer = writer;
        _status = TerminalText.Escape(status);
        _stop = new CancellationTokenSource();
        Draw();
        _loop = RunAsync(_stop.Token);
    }

    /// <summary>Whether anything is drawn.</summary>
    public bool IsVisible => _writer is not null;

    /// <summary>Replaces the status text (e.g. "3 peers found").</summary>
    public void Update(string status)
    {
        if (_writer is null) return;
        lock (_gate) _status = TerminalText.Escape(status);
        Draw();
    }

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(Interval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false)) Draw();
        }
        catch (OperationCanceledException)
        {
        }
    }

    private void Draw()
    {
        lock (_gate)
        {
            if (_disposed || _writer is null) return;
            string line = string.Create(CultureInfo.InvariantCulture,
                $"{Frames[_frame++ % Frames.Length]} {_status} ({_elapsed.Elapsed.TotalSeconds:0.0} s)");
            // Carriage return, the line, and blanks over whatever longer line was there before.
            _writer.Write("\r" + line + new string(' ', Math.Max(0, _drawnWidth - line.Length)));
            _writer.Flush();
            _drawnWidth = line.Length;
        }
    }

    private void Erase()
    {
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            if (_writer is null) return;
            _writer.Write("\r" + new string(' ', _drawnWidth) + "\r");
            _writer.Flush();
        }
    }

    public void Dispose()
    {
        _stop?.Cancel();
        Erase();
        _stop?.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop is not null) await _stop.CancelAsync().ConfigureAwait(false);
        await _loop.ConfigureAwait(false);
        Erase();
        _stop?.Dispose();
    }
}
