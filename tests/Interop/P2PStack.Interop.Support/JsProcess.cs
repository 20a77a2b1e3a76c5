using System.Text.Json.Nodes;
using P2PStack.Addressing;
using P2PStack.Identity;

namespace P2PStack.Interop.Support;

/// <summary>
/// A running js-libp2p script from interop/js (Node 22) on this machine, driven over the JSON-lines protocol of
/// <see cref="JsonLinesPeer"/>; the ready line gives its peer id, addresses and protocols. Its output tail goes into
/// failure messages. Disposing stops it (its stdin closes) and kills what is left.
/// </summary>
public abstract class JsProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly TimeSpan _defaultTimeout;
    private JsonLinesPeer? _peer;

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

    private JsonLinesPeer Peer => _peer ?? throw new InvalidOperationException($"{Label} is not started");

    /// <summary>Installs interop/js if needed, runs <paramref name="script"/> there and waits for its ready line.</summary>
    protected async Task LaunchAsync(string script, IEnumerable<string> arguments)
    {
        string directory = await JsPeerInstall.EnsureInstalledAsync().ConfigureAwait(false);
        _peer = await JsonLinesPeer.StartLocalAsync(JsPeerInstall.NodePath(directory), [script, .. arguments], StartTimeout,
            CancellationToken.None, directory, $"{Label} ({script})").ConfigureAwait(false);
        _peer.DefaultTimeout = _defaultTimeout;
        try
        {
            var ready = _peer.Ready;
            PeerId = PeerId.Parse(ready["peerId"]!.GetValue<string>());
            Addresses = [.. ready["addresses"]!.AsArray().Select(a => Multiaddr.Parse(a!.GetValue<string>()))];
            Protocols = [.. ready["protocols"]!.AsArray().Select(p => p!.GetValue<string>())];
        }
        catch (Exception ex)
        {
            await DisposeAsync().ConfigureAwait(false);
            throw new InvalidOperationException($"{Label} sent a bad ready line: {ex.Message}", ex);
        }
    }

    /// <summary>Runs a command and returns its answer, ok or not.</summary>
    public Task<JsonObject> TryCommandAsync(string cmd, JsonObject? fields = null, TimeSpan? timeout = null) =>
        Peer.TryCommandAsync(cmd, fields, timeout);

    /// <summary>Runs a command and returns its answer; a failed command throws with js's error message.</summary>
    public Task<JsonObject> CommandAsync(string cmd, JsonObject? fields = null, TimeSpan? timeout = null) =>
        Peer.CommandAsync(cmd, fields, timeout);

    public async ValueTask DisposeAsync()
    {
        if (_peer is { } peer)
        {
            _peer = null;
            await peer.DisposeAsync().ConfigureAwait(false);
        }
        GC.SuppressFinalize(this);
    }
}
