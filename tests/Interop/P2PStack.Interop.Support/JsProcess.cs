using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using P2PStack.Addressing;
using P2PStack.Identity;

namespace P2PStack.Interop.Support;

/// <summary>
/// A running js-libp2p script from interop/js (Node 22), driven with one JSON command per stdin line and one answer
/// per stdout line, matched by id. The script first prints a ready line with its peer id, addresses and protocols.
/// Its stderr tail goes into failure messages.
/// </summary>
public abstract class JsProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly ConcurrentDictionary<long, TaskCompletionSource<JsonObject>> _pending = new();
    private readonly ConcurrentQueue<string> _stderr = new();
    private readonly TaskCompletionSource<JsonObject> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly TimeSpan _defaultTimeout;
    private Process? _process;
    private long _nextId;
    private Task? _readLoop;

    /// <param name="label">How failure messages name this process, e.g. "js peer".</param>
    protected JsProcess(string label, TimeSpan defaultTimeout)
    {
        Label = label;
        _defaultTimeout = defaultTimeout;
    }

    public string Label { get; }

    public PeerId PeerId { get; private set; } = null!;

    /// <summary>Listen addresses with the /p2p suffix, as announced in the ready line.</summary>
    public IReadOnlyList<Multiaddr> Addresses { get; private set; } = [];

    public IReadOnlyList<string> Protocols { get; private set; } = [];

    private Process Process => _process ?? throw new InvalidOperationException($"{Label} is not started");

    /// <summary>Installs interop/js if needed, runs <paramref name="script"/> there and waits for its ready line.</summary>
    protected async Task LaunchAsync(string script, IEnumerable<string> arguments)
    {
        string directory = await JsPeerInstall.EnsureInstalledAsync().ConfigureAwait(false);
        var start = new ProcessStartInfo(JsPeerInstall.NodePath(directory))
        {
            WorkingDirectory = directory,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(script);
        foreach (string arg in arguments) start.ArgumentList.Add(arg);
        _process = Process.Start(start) ?? throw new InvalidOperationException($"node {script} did not start");
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            _stderr.Enqueue(e.Data);
            while (_stderr.Count > 200) _stderr.TryDequeue(out string? _);
        };
        _process.BeginErrorReadLine();
        _readLoop = Task.Run(ReadLoopAsync);
        try
        {
            var ready = await _ready.Task.WaitAsync(StartTimeout).ConfigureAwait(false);
            PeerId = PeerId.Parse(ready["peerId"]!.GetValue<string>());
            Addresses = [.. ready["addresses"]!.AsArray().Select(a => Multiaddr.Parse(a!.GetValue<string>()))];
            Protocols = [.. ready["protocols"]!.AsArray().Select(p => p!.GetValue<string>())];
        }
        catch (Exception ex)
        {
            await DisposeAsync().ConfigureAwait(false);
            throw new InvalidOperationException($"{Label} did not become ready: {ex.Message}\n{StderrTail()}", ex);
        }
    }

    /// <summary>Runs a command and returns its answer, ok or not.</summary>
    public async Task<JsonObject> TryCommandAsync(string cmd, JsonObject? fields = null, TimeSpan? timeout = null)
    {
        long id = Interlocked.Increment(ref _nextId);
        var request = fields is null ? [] : (JsonObject)fields.DeepClone();
        request["id"] = id;
        request["cmd"] = cmd;
        var wait = timeout ?? _defaultTimeout;
        request["timeoutMs"] = (long)wait.TotalMilliseconds;
        var answer = new TaskCompletionSource<JsonObject>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = answer;
        try
        {
            await _writeLock.WaitAsync().ConfigureAwait(false);
            try
            {
                await Process.StandardInput.WriteLineAsync(request.ToJsonString()).ConfigureAwait(false);
                await Process.StandardInput.FlushAsync().ConfigureAwait(false);
            }
            finally
            {
                _writeLock.Release();
            }
            // A little beyond the js-side timeout, so js reports its own timeout first.
            return await answer.Task.WaitAsync(wait + TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{Label}: no answer to {request.ToJsonString()} within {wait}\n{StderrTail()}");
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    /// <summary>Runs a command and returns its answer; a failed command throws with js's error message.</summary>
    public async Task<JsonObject> CommandAsync(string cmd, JsonObject? fields = null, TimeSpan? timeout = null)
    {
        var answer = await TryCommandAsync(cmd, fields, timeout).ConfigureAwait(false);
        if (answer["ok"]?.GetValue<bool>() != true)
            throw new InvalidOperationException($"{Label}: {cmd} failed: {answer["error"]} ({answer["errorName"]})\n{StderrTail()}");
        return answer;
    }

    public string StderrTail() => $"{Label} stderr (tail):\n" + string.Join('\n', _stderr.TakeLast(40));

    private async Task ReadLoopAsync()
    {
        var reader = Process.StandardOutput;
        try
        {
            while (await reader.ReadLineAsync().ConfigureAwait(false) is { } line)
            {
                if (line.Length == 0) continue;
                JsonObject? message;
                try
                {
                    message = JsonNode.Parse(line) as JsonObject;
                }
                catch (JsonException)
                {
                    continue; // the scripts write only JSON lines; anything else is not an answer
                }
                if (message is null) continue;
                if (message["event"]?.GetValue<string>() == "ready")
                {
                    _ready.TrySetResult(message);
                    continue;
                }
                if (message["id"] is JsonValue idValue && idValue.TryGetValue(out long id) && _pending.TryGetValue(id, out var waiter))
                    waiter.TrySetResult(message);
            }
        }
        finally
        {
            var gone = new IOException($"{Label}: stdout closed (process exited)\n{StderrTail()}");
            _ready.TrySetException(gone);
            foreach (var waiter in _pending.Values) waiter.TrySetException(gone);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not { } process) return;
        try
        {
            if (!process.HasExited)
            {
                await _writeLock.WaitAsync().ConfigureAwait(false);
                try
                {
                    await process.StandardInput.WriteLineAsync("{\"id\":0,\"cmd\":\"stop\"}").ConfigureAwait(false);
                    process.StandardInput.Close();
                }
                finally
                {
                    _writeLock.Release();
                }
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException or ObjectDisposedException)
        {
            // stdin already closed, or the process did not stop in time: killed below
        }
        finally
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            if (_readLoop is not null) await _readLoop.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { }).ConfigureAwait(false);
            process.Dispose();
            _process = null;
        }
        GC.SuppressFinalize(this);
    }
}
