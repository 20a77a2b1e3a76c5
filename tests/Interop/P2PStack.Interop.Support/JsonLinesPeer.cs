using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace P2PStack.Interop.Support;

/// <summary>
/// Drives a test process over the JSON-lines protocol that every test peer here speaks (our NAT test node, the js-libp2p
/// scripts of interop/js, see its README): the process first prints <c>{"event":"ready",...}</c>, then answers each
/// <c>{"id":n,"cmd":...}</c> line with <c>{"id":n,"ok":true,...}</c> or <c>{"id":n,"ok":false,"error":...,"errorName":...}</c>.
/// Other lines with an <c>event</c> field are kept as events. Disposing closes its stdin (the peers stop on it) and
/// kills what is left; a peer that never became ready is disposed before the start throws.
/// </summary>
public sealed class JsonLinesPeer : IAsyncDisposable
{
    private readonly ConcurrentDictionary<long, TaskCompletionSource<JsonObject>> _pending = new();
    private readonly ConcurrentQueue<JsonObject> _events = new();
    private readonly TaskCompletionSource<JsonObject> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Task _readLoop;
    private long _nextId;

    private JsonLinesPeer(LabProcess process, IPAddress? hostAddress)
    {
        Process = process;
        HostAddress = hostAddress;
        _readLoop = Task.Run(ReadLoopAsync);
    }

    public LabProcess Process { get; }

    /// <summary>The address of the host it runs on when that is not this machine (a network namespace's), else null.</summary>
    public IPAddress? HostAddress { get; }

    /// <summary>The ready line.</summary>
    public JsonObject Ready { get; private set; } = null!;

    public TimeSpan DefaultTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Starts <paramref name="fileName"/> on this machine and waits for its ready line.</summary>
    public static Task<JsonLinesPeer> StartLocalAsync(string fileName, IEnumerable<string> arguments, TimeSpan startTimeout,
        CancellationToken cancellationToken, string? workingDirectory = null, string? label = null)
    {
        var start = new System.Diagnostics.ProcessStartInfo(fileName) { WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        return AttachAsync(LabProcess.Start(label ?? Path.GetFileName(fileName), start), null, startTimeout, cancellationToken);
    }

    /// <summary>Takes over a started process and waits for its ready line; whatever ends the wait (a timeout, the
    /// process's exit, cancellation) disposes the process before the exception leaves.</summary>
    /// <param name="hostAddress">Where the process runs when that is not this machine (see <see cref="HostAddress"/>).</param>
    public static async Task<JsonLinesPeer> AttachAsync(LabProcess process, IPAddress? hostAddress, TimeSpan startTimeout, CancellationToken cancellationToken)
    {
        var peer = new JsonLinesPeer(process, hostAddress);
        try
        {
            peer.Ready = await peer._ready.Task.WaitAsync(startTimeout, cancellationToken).ConfigureAwait(false);
            return peer;
        }
        catch (Exception ex)
        {
            await peer.DisposeAsync().ConfigureAwait(false);
            if (ex is OperationCanceledException) throw;
            throw new InvalidOperationException($"{process.Label} did not become ready: {ex.Message}\n{process.Tail()}", ex);
        }
    }

    /// <summary>Events received so far (lines with an <c>event</c> field other than ready).</summary>
    public IReadOnlyList<JsonObject> Events => [.. _events];

    /// <summary>Runs a command; a failed command throws with the process's error.</summary>
    public async Task<JsonObject> CommandAsync(string cmd, JsonObject? fields = null, TimeSpan? timeout = null)
    {
        var answer = await TryCommandAsync(cmd, fields, timeout).ConfigureAwait(false);
        if (answer["ok"]?.GetValue<bool>() != true)
            throw new InvalidOperationException($"{Process.Label}: {cmd} failed: {answer["error"]} ({answer["errorName"]})\n{Process.Tail()}");
        return answer;
    }

    /// <summary>Runs a command and returns the answer, ok or not.</summary>
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
                await Process.StandardInput.WriteLineAsync(request.ToJsonString()).ConfigureAwait(false);
                await Process.StandardInput.FlushAsync().ConfigureAwait(false);
            }
            finally
            {
                _writeLock.Release();
            }
            // A little beyond the process's own timeout, so that it reports its timeout first.
            return await answer.Task.WaitAsync(wait + TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"{Process.Label}: no answer to {request.ToJsonString()} within {wait}\n{Process.Tail()}");
        }
        finally
        {
            _pending.TryRemove(id, out _);
        }
    }

    private async Task ReadLoopAsync()
    {
        try
        {
            while (await Process.ReadLineAsync(CancellationToken.None).ConfigureAwait(false) is { } line)
            {
                if (line.Length == 0 || line[0] != '{') continue;
                JsonObject? message;
                try
                {
                    message = JsonNode.Parse(line) as JsonObject;
                }
                catch (JsonException)
                {
                    continue;
                }
                if (message is null) continue;
                if (message["event"] is JsonValue kind)
                {
                    if (kind.GetValue<string>() == "ready") _ready.TrySetResult(message);
                    else _events.Enqueue(message);
                    continue;
                }
                if (message["id"] is JsonValue idValue && idValue.TryGetValue(out long id) && _pending.TryGetValue(id, out var waiter))
                    waiter.TrySetResult(message);
            }
        }
        finally
        {
            var gone = new IOException($"{Process.Label}: stdout closed (process exited)\n{Process.Tail()}");
            _ready.TrySetException(gone);
            foreach (var waiter in _pending.Values) waiter.TrySetException(gone);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Process.DisposeAsync().ConfigureAwait(false);
        await _readLoop.WaitAsync(TimeSpan.FromSeconds(5)).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
        _writeLock.Dispose();
    }
}
