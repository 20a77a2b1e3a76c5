using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace P2PStack.Host.Tests;

/// <summary>Collects every log line of a test host (Debug and up), so a test can wait for a refusal to be logged.</summary>
public sealed class LogCapture : ILoggerProvider
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyList<string> Lines => [.. _lines];

    /// <summary>Registers the capture on a host being built (use in TestPeer.StartAsync's configure).</summary>
    public void AddTo(IP2PBuilder p2p) =>
        p2p.Services.AddLogging(logging => logging.SetMinimumLevel(LogLevel.Debug).AddProvider(this));

    public int Count(string fragment) => Lines.Count(l => l.Contains(fragment, StringComparison.Ordinal));

    /// <summary>Waits (bounded) until a line containing <paramref name="fragment"/> was logged.</summary>
    public async Task WaitForAsync(string fragment)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (Count(fragment) == 0)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"nothing containing '{fragment}' was logged");
            await Task.Delay(20);
        }
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void Dispose()
    {
    }

    private sealed class Logger(LogCapture capture) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception,
            Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel)) capture._lines.Enqueue(formatter(state, exception));
        }
    }
}
