using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;

namespace P2PStack.Benchmarks.Onion;

/// <summary>
/// A minimal client of Tor's control protocol (control-spec): commands with their replies in order, and asynchronous
/// events (650 lines) on their own channel. Enough for the benchmark: AUTHENTICATE, GETINFO, SETCONF, SETEVENTS,
/// EXTENDCIRCUIT, ATTACHSTREAM, CLOSECIRCUIT.
/// </summary>
internal sealed class TorControl : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private readonly StreamReader _reader;
    private readonly Stream _stream;
    private readonly Channel<List<string>> _replies = Channel.CreateUnbounded<List<string>>();
    private readonly SemaphoreSlim _command = new(1, 1);
    private readonly Task _readLoop;

    private TorControl(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
        _reader = new StreamReader(_stream, System.Text.Encoding.ASCII);
        _readLoop = Task.Run(ReadLoopAsync);
    }

    /// <summary>Asynchronous events, one line each ("CIRC 5 BUILT ...", without the 650 code).</summary>
    public Channel<(long Timestamp, string Line)> Events { get; } = Channel.CreateUnbounded<(long, string)>();

    public static async Task<TorControl> ConnectAsync(int port, CancellationToken cancellationToken)
    {
        var tcp = new TcpClient { NoDelay = true };
        try
        {
            await tcp.ConnectAsync(IPAddress.Loopback, port, cancellationToken);
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
        var control = new TorControl(tcp);
        await control.CommandAsync("AUTHENTICATE", cancellationToken);
        return control;
    }

    /// <summary>Sends a command and returns its reply lines; throws unless the reply is 250.</summary>
    public async Task<List<string>> CommandAsync(string command, CancellationToken cancellationToken)
    {
        await _command.WaitAsync(cancellationToken);
        try
        {
            await _stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(command + "\r\n"), cancellationToken);
            var reply = await _replies.Reader.ReadAsync(cancellationToken);
            if (!reply[^1].StartsWith("250", StringComparison.Ordinal))
                throw new InvalidOperationException($"tor refused '{command}': {string.Join(" | ", reply)}");
            return reply;
        }
        finally
        {
            _command.Release();
        }
    }

    /// <summary>The value of one GETINFO key (multi-line values joined with newlines).</summary>
    public async Task<string> GetInfoAsync(string key, CancellationToken cancellationToken)
    {
        var reply = await CommandAsync($"GETINFO {key}", cancellationToken);
        var value = new StringBuilder();
        foreach (var line in reply)
        {
            if (line == "250 OK" || line == ".") continue;
            string text = line.Length > 4 && line[3] is '-' or '+' or ' ' ? line[4..] : line;
            if (text.StartsWith(key + "=", StringComparison.Ordinal)) text = text[(key.Length + 1)..];
            value.AppendLine(text);
        }
        return value.ToString().Trim();
    }

    /// <summary>Like <see cref="GetInfoAsync"/>, but "" when tor does not know the key (yet).</summary>
    public async Task<string> TryGetInfoAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            return await GetInfoAsync(key, cancellationToken);
        }
        catch (InvalidOperationException)
        {
            return "";
        }
    }

    private async Task ReadLoopAsync()
    {
        var reply = new List<string>();
        bool inData = false;
        try
        {
            while (await _reader.ReadLineAsync() is { } line)
            {
                if (inData)
                {
                    reply.Add(line);
                    if (line == ".") inData = false;
                    continue;
                }
                if (line.StartsWith("650", StringComparison.Ordinal))
                {
                    Events.Writer.TryWrite((System.Diagnostics.Stopwatch.GetTimestamp(), line[4..]));
                    continue;
                }
                reply.Add(line);
                if (line.Length >= 4 && line[3] == '+') inData = true;
                else if (line.Length >= 4 && line[3] == ' ')
                {
                    _replies.Writer.TryWrite(reply);
                    reply = [];
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
            // Closed.
        }
        finally
        {
            _replies.Writer.TryComplete();
            Events.Writer.TryComplete();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        await _readLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _command.Dispose();
    }
}
