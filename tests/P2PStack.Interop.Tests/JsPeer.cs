using P2PStack.Interop.Support;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using P2PStack.Addressing;
using P2PStack.Identity;

namespace P2PStack.Interop.Tests;

/// <summary>
/// A running interop/js/peer.mjs (js-libp2p 3 on Node 22), driven with one JSON command per stdin line and one
/// answer per stdout line, matched by id. Its stderr is kept for failure messages.
/// </summary>
public sealed class JsPeer : IAsyncDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly Process _process;
    private readonly ConcurrentDictionary<long, TaskCompletionSource<JsonObject>> _pending = new();
    private readonly ConcurrentQueue<string> _stderr = new();
    private readonly TaskCompletionSource<JsonObject> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private long _nextId;
    private Task? _readLoop;

    private JsPeer(Process process) => _process = process;

    public PeerId PeerId { get; private set; } = null!;

    /// <summary>Listen addresses with the /p2p suffix, as announced in the ready line.</summary>
    public IReadOnlyList<Multiaddr> Addresses { get; private set; } = [];

    public IReadOnlyList<string> Protocols { get; private set; } = [];

    public Multiaddr TcpAddress => Addresses.First(a => !IsWebSocket(a));

    public Multiaddr WebSocketAddress => Addresses.First(IsWebSocket);

    public Multiaddr Address(string transport) => transport == "ws" ? WebSocketAddress : TcpAddress;

    public static bool IsWebSocket(Multiaddr address) => address.ToString().Contains("/ws", StringComparison.Ordinal);

    /// <summary>Installs interop/js if needed and starts a peer listening on TCP and WebSocket (ports picked by the OS).</summary>
    public static async Task<JsPeer> StartAsync()
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
        foreach (string arg in (string[])["peer.mjs", "--listen", "/ip4/127.0.0.1/tcp/0", "--listen", "/ip4/127.0.0.1/tcp/0/ws"])
            start.ArgumentList.Add(arg);
        var process = Process.Start(start) ?? throw new InvalidOperationException("node peer.mjs did not start");
        var peer = new JsPeer(process);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            peer._stderr.Enqueue(e.Data);
            while (peer._stderr.Count > 200) peer._stderr.TryDequeue(out string? _);
        };
        process.BeginErrorReadLine();
        peer._readLoop = Task.Run(peer.ReadLoopAsync);
        try
        {
            var ready = await peer._ready.Task.WaitAsync(StartTimeout).ConfigureAwait(false);
            peer.PeerId = PeerId.Parse(ready["peerId"]!.GetValue<string>());
            peer.Addresses = [.. ready["addresses"]!.AsArray().Select(a => Multiaddr.Parse(a!.GetValue<string>()))];
            peer.Protocols = [.. ready["protocols"]!.AsArray().Select(p => p!.GetValue<string>())];
            return peer;
        }
        catch (Exception ex)
        {
            await peer.DisposeAsync().ConfigureAwait(false);
            throw new InvalidOperationException($"the js peer did not become ready: {ex.Message}\n{peer.StderrTail()}", ex);
        }
    }

    /// <summary>Runs a command and returns its answer, ok or not.</summary>
    public async Task<JsonObject> TryCommandAsync(string cmd, JsonObject? fields = null, TimeSpan? timeout = null)
    {
        long id = Interlocked.Increment(ref _nextId);
        var request = fields is null ? [] : (JsonObject)fields.DeepClone();
        request["id"] = id;
        request["cmd"] = cmd;
        var wait = timeout ?? DefaultTimeout;
        request["timeoutMs"] = (long)wait.TotalMilliseconds;
        var answer = new TaskCompletionSource<JsonObject>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = answer;
        try
        {
            await _writeLock.WaitAsync().ConfigureAwait(false);
            try
            {
                await _process.StandardInput.WriteLineAsync(request.ToJsonString()).ConfigureAwait(false);
                await _process.StandardInput.FlushAsync().ConfigureAwait(false);
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
            throw new TimeoutException($"js peer: no answer to {request.ToJsonString()} within {wait}\n{StderrTail()}");
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
            throw new InvalidOperationException($"js peer: {cmd} failed: {answer["error"]} ({answer["errorName"]})\n{StderrTail()}");
        return answer;
    }

    public string StderrTail() => "js stderr (tail):\n" + string.Join('\n', _stderr.TakeLast(40));

    private async Task ReadLoopAsync()
    {
        var reader = _process.StandardOutput;
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
                    continue; // peer.mjs writes only JSON lines; anything else is not an answer
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
            var gone = new IOException($"the js peer's stdout closed (process exited)\n{StderrTail()}");
            _ready.TrySetException(gone);
            foreach (var waiter in _pending.Values) waiter.TrySetException(gone);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                await _writeLock.WaitAsync().ConfigureAwait(false);
                try
                {
                    await _process.StandardInput.WriteLineAsync("{\"id\":0,\"cmd\":\"stop\"}").ConfigureAwait(false);
                    _process.StandardInput.Close();
                }
                finally
                {
                    _writeLock.Release();
                }
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await _process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException)
        {
            // stdin already closed, or the peer did not stop in time: killed below
        }
        finally
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            if (_readLoop is not null) await _readLoop.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { }).ConfigureAwait(false);
            _process.Dispose();
            _writeLock.Dispose();
        }
    }
}

/// <summary>One js peer per test class, stopped when the class is done.</summary>
public sealed class JsPeerFixture : IAsyncLifetime
{
    private JsPeer? _peer;

    public JsPeer Peer => _peer ?? throw new InvalidOperationException("the js peer is not started");

    public async Task InitializeAsync() => _peer = await JsPeer.StartAsync();

    public async Task DisposeAsync()
    {
        if (_peer is not null) await _peer.DisposeAsync();
    }
}
