using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using P2PStack.Crypto.MLKem;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Privacy.Onion.Crypto;
using P2PStack.Privacy.Onion.Directory;
using P2PStack.Privacy.Onion.Wire;
using P2PStack.Privacy.Padding;

namespace P2PStack.Privacy.Onion.Relay;

/// <summary>
/// The relay side of <c>/synaptic/onion/1.0.0</c>: each inbound stream is one circuit's link from its previous hop.
/// Admission (circuits in all, per previous peer, CREATE rate per peer) happens here, before any key agreement work;
/// a refused link gets DESTROY with <see cref="DestroyReason.ResourceLimit"/> and a count. Holds the onion keys and
/// builds the descriptor the publisher signs.
/// </summary>
public sealed partial class OnionRelay : IProtocolHandler, IDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<PeerId, int> _circuitsByPeer = [];
    private readonly HashSet<RelayCircuit> _circuits = [];
    private readonly RateLimiter _createRate;
    private readonly ILogger _logger;
    private int _stopped;

    public OnionRelay(IPeerHost host, ILocalIdentity identity, IOptions<OnionOptions> options, OnionMetrics metrics,
        ILogger<OnionRelay> logger, TimeProvider? time = null, PaddingPolicy? padding = null)
    {
        Host = host;
        Identity = identity;
        Options = options.Value;
        Options.Validate();
        Metrics = metrics;
        _logger = logger;
        Time = time ?? TimeProvider.System;
        Links = padding;
        Cover = padding?.Cover(PaddingScope.CircuitLink, Options.CellSize);
        Keys = new OnionKeyRing(Time, Options.Relay.OnionKeyRotation, Options.Relay.OnionKeyOverlap);
        Ephemerals = new PreparedKeys<X25519Key>(X25519Key.Generate, Options.Relay.PreparedEphemeralKeys);
        _createRate = new RateLimiter(Time, Options.Relay.CreateBurstPerPeer, Options.Relay.CreatesPerSecondPerPeer, Options.Relay.MaxTrackedPeers);
        Introductions = new IntroductionRegistry(Options.Relay, Time);
        metrics.ObserveRelay(() => CircuitCount);
        Protocols = [Options.ProtocolId];
        ReadsLinksOnMuxerLoop = Options.Relay.ReadLinksOnMuxerLoop ?? InlineSocketCompletions.Enabled;
    }

    public IReadOnlyList<string> Protocols { get; }

    /// <summary>A relay answers every link's first cells (CREATED, or DESTROY when it refuses or the circuit fails) or
    /// closes the link: its multistream acceptance leaves with that answer when the CREATE came with the proposal.</summary>
    public bool RepliesToFirstMessage => true;

    internal IPeerHost Host { get; }

    internal ILocalIdentity Identity { get; }

    internal OnionOptions Options { get; }

    internal OnionMetrics Metrics { get; }

    internal ILogger Logger => _logger;

    internal TimeProvider Time { get; }

    /// <summary>The padding policy, which pads the connection to the next relay of an EXTEND when it pads
    /// <see cref="PaddingScope.CircuitLink"/> (docs/specs/padding.md); null without the padding module.</summary>
    internal PaddingPolicy? Links { get; }

    /// <summary>The cover cells this relay sends back to the client on circuits it ends (the padding policy for
    /// circuit links); null: none.</summary>
    internal CoverSchedule? Cover { get; }

    internal OnionKeyRing Keys { get; }

    /// <summary><see cref="OnionRelayOptions.ReadLinksOnMuxerLoop"/> as it applies: when null, whether the runtime runs
    /// this process's socket completions inline (<see cref="InlineSocketCompletions.Enabled"/>, read once here).</summary>
    internal bool ReadsLinksOnMuxerLoop { get; }

    /// <summary>X25519 keys generated ahead for the encapsulations of CREATED (off its critical path).</summary>
    internal PreparedKeys<X25519Key> Ephemerals { get; }

    /// <summary>Shadow services' introduction registrations on this relay.</summary>
    internal IntroductionRegistry Introductions { get; }

    /// <summary>Introduction registrations held now.</summary>
    public int IntroductionPointCount => Introductions.Count;

    /// <summary>Circuits passing through this relay now.</summary>
    public int CircuitCount
    {
        get { lock (_gate) return _circuits.Count; }
    }

    /// <summary>What the relay observes of its circuits (for tests that check what a relay can know).</summary>
    public IRelayObserver? Observer { get; set; }

    /// <summary>Test seam (the fuzz targets' oracle): each exception that ends, or tries to end, one of this relay's
    /// circuits, before it becomes a destroy reason. An <see cref="InvalidOperationException"/> from a link's completed
    /// pipe is the designed close (<c>link_closed</c>); one from anywhere else is a bug that the classification alone
    /// would hide, and only the caller, who knows the links, can tell the two apart.</summary>
    internal Action<Exception>? CircuitFailure { get; set; }

    /// <summary>Test seam: wraps each inbound link stream (a malicious-neighbour double changes or drops cells).</summary>
    internal Func<IStream, IStream>? LinkInterceptor { get; set; }

    /// <summary>Test seam: wraps each stream this relay opens to a destination as an exit.</summary>
    internal Func<IStream, IStream>? DestinationInterceptor { get; set; }

    public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
    {
        stream = LinkInterceptor?.Invoke(stream) ?? stream;
        var link = new CellLink(stream, Options.Layout);
        var peer = stream.Connection.RemotePeer;
        string? refusal = Admit(peer);
        if (refusal is not null)
        {
            Metrics.Refused(refusal);
            Metrics.Destroy(DestroyReason.ResourceLimit, sent: true);
            LogRefused(refusal);
            await link.SendControlAsync(CellCommand.Destroy, DestroyReason.ResourceLimit, cancellationToken).ConfigureAwait(false);
            await link.CloseAsync(abort: false, Options.TeardownTimeout).ConfigureAwait(false);
            return;
        }
        var circuit = new RelayCircuit(this, link);
        lock (_gate) _circuits.Add(circuit);
        try
        {
            await circuit.RunAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            lock (_gate)
            {
                _circuits.Remove(circuit);
                if (_circuitsByPeer.TryGetValue(peer, out int count))
                {
                    if (count <= 1) _circuitsByPeer.Remove(peer);
                    else _circuitsByPeer[peer] = count - 1;
                }
            }
        }
    }

    /// <summary>Builds this relay's descriptor for the current addresses and onion keys.</summary>
    public Pb.RelayDescriptor BuildDescriptor()
    {
        var now = Time.GetUtcNow();
        var descriptor = new Pb.RelayDescriptor
        {
            PeerId = ByteString.CopyFrom(Host.PeerId.Bytes.Span),
            Bandwidth = (ulong)Options.Relay.AdvertisedBandwidth,
            MaxCircuits = (uint)Options.Relay.MaxCircuits,
            PublishedAt = (ulong)now.ToUnixTimeSeconds(),
            ExpiresAt = (ulong)(now + Options.Relay.DescriptorLifetime).ToUnixTimeSeconds(),
            CellSize = (uint)Options.CellSize,
            Protocol = Options.ProtocolId,
            ExitPolicy = new Pb.ExitPolicy { Exit = Options.Relay.ExitPolicy.Exit },
        };
        foreach (var address in Host.AdvertisedAddresses.Take(RelayDescriptors.MaxAddresses))
            descriptor.Addresses.Add(ByteString.CopyFrom(address.Bytes.Span));
        foreach (var key in Keys.Keys.Take(RelayDescriptors.MaxOnionKeys))
            descriptor.OnionKeys.Add(new Pb.OnionKey { PublicKey = ByteString.CopyFrom(key.PublicKey), ValidUntil = (ulong)key.ValidUntil.ToUnixTimeSeconds() });
        foreach (var peer in Options.Relay.ExitPolicy.AllowedPeers.Take(RelayDescriptors.MaxPolicyPeers))
            descriptor.ExitPolicy.AllowedPeers.Add(ByteString.CopyFrom(peer.Bytes.Span));
        foreach (var peer in Options.Relay.ExitPolicy.DeniedPeers.Take(RelayDescriptors.MaxPolicyPeers))
            descriptor.ExitPolicy.DeniedPeers.Add(ByteString.CopyFrom(peer.Bytes.Span));
        if (Options.Relay.Family is { Length: > 0 } family)
            descriptor.Family = ByteString.CopyFrom(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(family)).AsSpan(0, 16));
        return descriptor;
    }

    /// <summary>This relay's signed descriptor.</summary>
    public byte[] SignedDescriptor() => RelayDescriptors.Seal(BuildDescriptor(), Identity.PrivateKey);

    /// <summary>Whether this relay's exit policy lets it open a stream to <paramref name="destination"/>.</summary>
    internal bool ExitAllows(PeerId destination)
    {
        var policy = Options.Relay.ExitPolicy;
        if (!policy.Exit) return false;
        if (policy.DeniedPeers.Contains(destination)) return false;
        return policy.AllowedPeers.Count == 0 || policy.AllowedPeers.Contains(destination);
    }

    /// <summary>Ends every circuit (the relay stops): each gets DESTROY with <see cref="DestroyReason.Hibernating"/>.</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0) return;
        RelayCircuit[] circuits;
        lock (_gate) circuits = [.. _circuits];
        await Task.WhenAll(circuits.Select(c => c.DestroyAsync(DestroyReason.Hibernating))).ConfigureAwait(false);
    }

    public void Dispose()
    {
        Keys.Dispose();
        Ephemerals.Dispose();
    }

    private string? Admit(PeerId peer)
    {
        if (Volatile.Read(ref _stopped) != 0 || !Options.Relay.Enabled) return "not_relaying";
        if (!_createRate.TryTake(peer)) return "create_rate";
        lock (_gate)
        {
            if (_circuits.Count >= Options.Relay.MaxCircuits) return "max_circuits";
            int count = _circuitsByPeer.GetValueOrDefault(peer);
            if (count >= Options.Relay.MaxCircuitsPerPeer) return "max_circuits_per_peer";
            _circuitsByPeer[peer] = count + 1;
        }
        return null;
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Onion circuit refused: {Reason}")]
    private partial void LogRefused(string reason);
}

/// <summary>What a relay sees of a circuit, reported as it happens: tests use it to check that a relay learns only its
/// neighbours (and, at the exit, the destination).</summary>
public interface IRelayObserver
{
    /// <summary>A circuit arrived from <paramref name="previous"/>.</summary>
    void CircuitOpened(object circuit, PeerId previous);

    /// <summary>The circuit was extended to <paramref name="next"/>.</summary>
    void CircuitExtended(object circuit, PeerId next);

    /// <summary>A stream was opened to <paramref name="destination"/> (this relay is the exit).</summary>
    void StreamOpened(object circuit, PeerId destination);

    /// <summary>A relay cell went through this relay: <paramref name="body"/> is the cell body as this relay saw it once its
    /// own layer was removed (forward) or added (backward), and <paramref name="command"/> the command when the cell was
    /// meant for this relay (then the body is the plaintext), as a relay that logs everything would record them.</summary>
    void Cell(object circuit, bool forward, RelayCommand? command, ReadOnlySpan<byte> body);
}
