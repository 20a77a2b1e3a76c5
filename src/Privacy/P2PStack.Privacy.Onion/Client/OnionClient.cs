using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Privacy.Onion.Crypto;
using P2PStack.Privacy.Onion.Directory;
using P2PStack.Privacy.Onion.Transport;
using P2PStack.Privacy.Padding;

namespace P2PStack.Privacy.Onion.Client;

/// <summary>What a circuit is asked for.</summary>
public sealed record CircuitRequest
{
    /// <summary>Hops (1-8); null: the options' default, or the pinned count when that is larger.</summary>
    public int? Hops { get; init; }

    /// <summary>Relays for the first positions, in order.</summary>
    public IReadOnlyList<PeerId> Pinned { get; init; } = [];

    /// <summary>The destination its streams will go to (never on the path; the exit must allow it); null: any.</summary>
    public PeerId? Destination { get; init; }

    /// <summary>The relay for the last position (an introduction point: it need not be an exit); null: any exit.</summary>
    public PeerId? Last { get; init; }

    /// <summary>
    /// Isolation key (compared with <see cref="object.Equals(object?)"/>): a circuit built for a key carries only
    /// streams of requests with that key, and requests with a key never use a circuit built without it or for another
    /// (not the preemptive ones either). Tor's stream isolation: the exit of one activity's circuit does not see the
    /// streams of another, so it cannot link them. Null: the shared circuits.
    /// </summary>
    public object? Isolation { get; init; }
}

/// <summary>A shadow service's circuit registered at an introduction point (docs/specs/shadow.md, section 7).</summary>
public sealed class IntroductionCircuit : IAsyncDisposable
{
    private readonly ClientCircuit _circuit;

    internal IntroductionCircuit(ClientCircuit circuit)
    {
        _circuit = circuit;
    }

    /// <summary>The introduction point (the circuit's last hop).</summary>
    public PeerId Relay => _circuit.Exit.Peer;

    public string CircuitId => _circuit.Id;

    /// <summary>Completes with the reason once the circuit (and with it the registration) has ended.</summary>
    public Task<DestroyReason> Completion => _circuit.Completion;

    public bool IsClosed => _circuit.IsClosed;

    /// <summary>Closes the circuit: the relay drops the registration; streams over it fail.</summary>
    public async ValueTask DisposeAsync() => await _circuit.CloseAsync(DestroyReason.Finished).ConfigureAwait(false);
}

/// <summary>An introduction point refused a registration (<see cref="OnionClient.EstablishIntroductionAsync"/>).</summary>
public sealed class IntroductionRefusedException(IntroStatus status, string message) : CircuitException(DestroyReason.None, message)
{
    public IntroStatus Status { get; } = status;
}

/// <summary>An end-to-end connection over a circuit and the circuit that carries it.</summary>
public sealed record OnionConnection(IConnection Connection, CircuitInfo Circuit);

/// <summary>
/// The client side of onion circuits: builds circuits (path selection, telescoping with retries on other relays),
/// keeps them for reuse until they are dirty (no new streams <see cref="OnionClientOptions.MaxDirtiness"/> after the
/// first) and closes them when idle and old, keeps <see cref="OnionClientOptions.PreemptiveCircuits"/> ready, and opens
/// end-to-end connections over them (<see cref="ConnectAsync"/>), under a fresh ephemeral identity unless told
/// otherwise.
/// </summary>
public sealed partial class OnionClient : IAsyncDisposable
{
    private readonly Lock _gate = new();
    private readonly List<ClientCircuit> _circuits = [];
    private readonly ILogger _logger;
    private int _building;
    private int _disposed;

    public OnionClient(IPeerHost host, IOptions<OnionOptions> options, RelayDirectory directory, OnionMetrics metrics,
        ILogger<OnionClient> logger, TimeProvider? time = null, PaddingPolicy? padding = null)
    {
        Host = host;
        Options = options.Value;
        Options.Validate();
        Directory = directory;
        Metrics = metrics;
        _logger = logger;
        Time = time ?? TimeProvider.System;
        Links = padding;
        Cover = padding?.Cover(PaddingScope.CircuitLink, Options.CellSize);
        metrics.ObserveClient(() => Circuits.Count(c => !c.Closed));
        _ephemerals = new PreparedKeys<OnionHandshake.ClientEphemeral>(OnionHandshake.ClientEphemeral.Generate, Options.Client.PreparedHandshakeKeys);
        _firstHop = new PreparedFirstHop(PrepareNow, LogFirstHopPreparationFailed);
    }

    // The hops' ephemeral keys, generated ahead of the builds (off their critical path).
    private readonly PreparedKeys<OnionHandshake.ClientEphemeral> _ephemerals;

    // The next build's first hop through a pinned first relay, prepared after the build before it.
    private readonly PreparedFirstHop _firstHop;

    internal PreparedFirstHop FirstHop => _firstHop;

    internal IPeerHost Host { get; }

    /// <summary>Test seam (the fuzz target's oracle): each exception that ends one of this client's circuits from its
    /// reader (or a failure of no documented kind elsewhere in it), before it becomes a destroy reason. Only an I/O error
    /// (a closed link's <c>LinkClosedException</c> among them) reads as <c>link_closed</c>; anything else, an
    /// <see cref="InvalidOperationException"/> of an open link included, is a bug and ends the circuit as <c>internal</c>.</summary>
    internal Action<Exception>? CircuitFailure { get; set; }

    /// <summary>Test seam: wraps the stream of each circuit's link to its first relay.</summary>
    internal Func<IStream, IStream>? LinkInterceptor { get; set; }

    internal OnionOptions Options { get; }

    internal OnionMetrics Metrics { get; }

    internal TimeProvider Time { get; }

    /// <summary>The padding policy, which pads the connection to each circuit's first relay when it pads
    /// <see cref="PaddingScope.CircuitLink"/> (docs/specs/padding.md); null without the padding module.</summary>
    internal PaddingPolicy? Links { get; }

    /// <summary>The cover cells each built circuit sends towards its last hop (the padding policy for circuit links);
    /// null: none.</summary>
    internal CoverSchedule? Cover { get; }

    public RelayDirectory Directory { get; }

    /// <summary>This client's circuits now.</summary>
    public IReadOnlyList<CircuitInfo> Circuits
    {
        get
        {
            lock (_gate) return [.. _circuits.Select(c => c.Info(Options.Client.MaxDirtiness))];
        }
    }

    /// <summary>Builds a new circuit (never a reused one) and keeps it for streams.</summary>
    /// <exception cref="NoPathException">Too few relays known for the request.</exception>
    /// <exception cref="CircuitException">The build failed after its retries, or timed out.</exception>
    public async Task<CircuitInfo> BuildCircuitAsync(CircuitRequest request, CancellationToken cancellationToken)
    {
        var circuit = await BuildAsync(request, cancellationToken).ConfigureAwait(false);
        return circuit.Info(Options.Client.MaxDirtiness);
    }

    /// <summary>
    /// Waits until the directory holds relays for a path that fits <paramref name="request"/> (a fresh node's directory
    /// fills from the DHT after start), looking again at each change of the directory (<see cref="RelayDirectory.NextChange"/>),
    /// for at most <paramref name="timeout"/>. Builds nothing. While no path fits, it asks the directory for a refresh
    /// now (<see cref="RelayDirectory.RequestRefresh"/>) rather than waiting for the next scheduled one.
    /// </summary>
    /// <exception cref="NoPathException">Still no path after <paramref name="timeout"/>; the message says why.</exception>
    public async Task WaitForPathAsync(CircuitRequest request, TimeSpan timeout, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentOutOfRangeException.ThrowIfLessThan(timeout, TimeSpan.Zero);
        using var expiry = new CancellationTokenSource(timeout, Time);
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, expiry.Token);
        while (true)
        {
            var changed = Directory.NextChange;
            string? missing = PathMissing(request);
            if (missing is null) return;
            if (expiry.IsCancellationRequested)
                throw new NoPathException($"the onion directory listed too few relays for a circuit within {timeout.TotalSeconds:0.#} s " +
                    $"({Directory.Relays.Count} known: {missing})");
            Directory.RequestRefresh();
            try
            {
                await changed.WaitAsync(budget.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (expiry.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                // One last look, then the error above.
            }
        }
    }

    // Why no path fits the request with the relays known now (the build's checks, without building), or null.
    private string? PathMissing(CircuitRequest request)
    {
        try
        {
            var pinned = request.Pinned.Select(p => Directory.Get(p)
                ?? throw new NoPathException($"pinned relay {p} has no valid descriptor in the directory")).ToList();
            var last = request.Last is { } lastPeer
                ? Directory.Get(lastPeer) ?? throw new NoPathException($"relay {lastPeer} has no valid descriptor in the directory")
                : null;
            _ = new PathSelector(Options.Client.Diversity).Select(Directory.Relays, HopsOf(request), pinned, request.Destination, Host.PeerId,
                new HashSet<PeerId>(Options.Client.ExcludedRelays), last);
            return null;
        }
        catch (NoPathException e)
        {
            return e.Message;
        }
    }

    /// <summary>
    /// Opens an end-to-end connection to <paramref name="destination"/> over a circuit: a clean circuit that fits the
    /// request, or a new one. The connection runs Noise and yamux end to end under <paramref name="identity"/>, by
    /// default a fresh ephemeral key, so the destination learns neither this node's peer id nor its address.
    /// </summary>
    /// <param name="circuitId">Use this circuit (it must be open and reach an exit that allows the destination).</param>
    public async Task<OnionConnection> ConnectAsync(PeerId destination, CircuitRequest? request = null, ILocalIdentity? identity = null,
        string? circuitId = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        request = (request ?? new CircuitRequest()) with { Destination = destination };
        ClientCircuit circuit;
        if (circuitId is not null)
        {
            circuit = Find(circuitId) ?? throw new ArgumentException($"no open circuit {circuitId}", nameof(circuitId));
        }
        else
        {
            circuit = await GetCircuitAsync(request, cancellationToken).ConfigureAwait(false);
        }
        var address = OnionAddress.For(destination, circuit.Path.Select(r => r.Peer));
        var options = new DialOptions { Identity = identity ?? new EphemeralIdentity(), ForceNewConnection = true };
        var opened = new StrongBox<ClientStream?>();
        IConnection connection;
        using (PinCircuit(circuit, opened))
        {
            try
            {
                connection = await Host.DialAsync(address, options, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (opened.Value?.EndedBy is { } ended)
            {
                // The upgrade failed because the exit ended the stream (it could not reach the destination, or the
                // destination refused circuit streams; optimistic data ran ahead of the answer): say why.
                throw new OnionStreamException(ended.Reason, ended.Message, e);
            }
        }
        return new OnionConnection(connection, circuit.Info(Options.Client.MaxDirtiness));
    }

    /// <summary>
    /// Registers at <paramref name="relay"/> as an introduction point for <paramref name="authKey"/> (a shadow
    /// service): builds a circuit of the default length ending there and sends ESTABLISH_INTRO. Each client stream the
    /// relay joins to it then arrives as an inbound raw connection (anonymous, upgraded under
    /// <paramref name="identity"/>) handed to <paramref name="accept"/>; false resets it.
    /// </summary>
    /// <exception cref="IntroductionRefusedException">The relay refused the registration.</exception>
    /// <exception cref="NoPathException">The relay is not in the directory, or too few relays for the path.</exception>
    public Task<IntroductionCircuit> EstablishIntroductionAsync(PeerId relay, ReadOnlyMemory<byte> authKey, ILocalIdentity identity,
        Func<IRawConnection, bool> accept, CancellationToken cancellationToken) =>
        EstablishIntroductionAsync(relay, authKey, identity, accept, requiredFilters: null, cancellationToken);

    /// <inheritdoc cref="EstablishIntroductionAsync(PeerId, ReadOnlyMemory{byte}, ILocalIdentity, Func{IRawConnection, bool}, CancellationToken)"/>
    /// <param name="requiredFilters">Secured-connection filters every introduced connection's dialer must run (e.g.
    /// padding), else its upgrade fails (<see cref="IRawConnection.RequiredInboundFilters"/>); null: none.</param>
    public async Task<IntroductionCircuit> EstablishIntroductionAsync(PeerId relay, ReadOnlyMemory<byte> authKey, ILocalIdentity identity,
        Func<IRawConnection, bool> accept, IReadOnlyList<string>? requiredFilters, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(relay);
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(accept);
        var circuit = await BuildAsync(new CircuitRequest { Last = relay }, cancellationToken).ConfigureAwait(false);
        try
        {
            var status = await circuit.EstablishIntroductionAsync(authKey, stream =>
            {
                stream.LocalIdentity = identity;
                stream.RequiredInboundFilters = requiredFilters;
                Metrics.InboundConnection();
                return accept(stream);
            }, cancellationToken).ConfigureAwait(false);
            if (status != IntroStatus.Ok)
                throw new IntroductionRefusedException(status, $"introduction point {relay} refused the registration ({status})");
            return new IntroductionCircuit(circuit);
        }
        catch
        {
            await circuit.CloseAsync(DestroyReason.Finished).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Opens a stream to the shadow service registered at <paramref name="relay"/> under <paramref name="authKey"/>
    /// over a new circuit ending there, and waits until the relay has joined it to the service's circuit. The result
    /// is a raw connection for the host to upgrade end to end (under an ephemeral identity:
    /// <see cref="DialOptions.Identity"/>).
    /// </summary>
    /// <exception cref="OnionStreamException">The relay refused: <see cref="EndReason.NoIntroduction"/> (no such
    /// registration), <see cref="EndReason.ResourceLimit"/> (introduction rate or stream limit).</exception>
    public async Task<IRawConnection> IntroduceAsync(PeerId relay, ReadOnlyMemory<byte> authKey, Multiaddr remoteAddress,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(relay);
        var circuit = await BuildAsync(new CircuitRequest { Last = relay }, cancellationToken).ConfigureAwait(false);
        ClientStream? stream = null;
        try
        {
            stream = await circuit.OpenIntroductionAsync(authKey, OnionAddress.Listen, remoteAddress, cancellationToken).ConfigureAwait(false);
            await stream.Connected.WaitAsync(cancellationToken).ConfigureAwait(false);
            return stream;
        }
        catch (Exception e) when (e is not OperationCanceledException || cancellationToken.IsCancellationRequested)
        {
            stream?.Abort();
            await circuit.CloseAsync(DestroyReason.Finished).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Closes a circuit (DESTROY); false when there is no such open circuit.</summary>
    /// <param name="cancellationToken">Stops waiting for the end; the circuit still ends (its teardown is bounded by
    /// <see cref="OnionOptions.TeardownTimeout"/> and the muxer's close timeout).</param>
    public async Task<bool> CloseCircuitAsync(string id, CancellationToken cancellationToken = default)
    {
        var circuit = Find(id);
        if (circuit is null) return false;
        await circuit.CloseAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <summary>Closes every circuit built for <paramref name="isolation"/> (<see cref="CircuitRequest.Isolation"/>); returns how many.</summary>
    public async Task<int> CloseIsolatedAsync(object isolation, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(isolation);
        ClientCircuit[] circuits;
        lock (_gate) circuits = [.. _circuits.Where(c => !c.IsClosed && Equals(c.Isolation, isolation))];
        await Task.WhenAll(circuits.Select(c => c.CloseAsync(DestroyReason.Finished))).WaitAsync(cancellationToken).ConfigureAwait(false);
        return circuits.Length;
    }

    /// <summary>The open circuit with this id, or null.</summary>
    internal ClientCircuit? Find(string id)
    {
        lock (_gate) return _circuits.FirstOrDefault(c => c.Id == id && !c.IsClosed);
    }

    /// <summary>
    /// A circuit for a stream to the request's destination: the circuit pinned by <see cref="ConnectAsync"/> when it
    /// fits, else a clean one that fits (path prefix, hop count, exit policy, destination not on it), else a new one.
    /// </summary>
    internal async Task<ClientCircuit> GetCircuitAsync(CircuitRequest request, CancellationToken cancellationToken)
    {
        int hops = HopsOf(request);
        var now = Time.GetUtcNow();
        lock (_gate)
        {
            var pinned = _pinnedCircuit.Value;
            // The circuit ConnectAsync chose (for its request's isolation): the transport's request carries none.
            if (pinned is not null && !pinned.IsClosed && Fits(pinned, request with { Isolation = pinned.Isolation }, hops, now, ignoreDirtiness: true))
                return pinned;
            var reusable = _circuits.Where(c => Fits(c, request, hops, now, ignoreDirtiness: false))
                .OrderByDescending(c => c.FirstUsedAt.HasValue).FirstOrDefault();
            if (reusable is not null) return reusable;
        }
        return await BuildAsync(request, cancellationToken).ConfigureAwait(false);
    }

    private readonly AsyncLocal<ClientCircuit?> _pinnedCircuit = new();
    private readonly AsyncLocal<StrongBox<ClientStream?>?> _openedStream = new();

    // Makes the transport, reached through the host's dial, use this very circuit, and tell which stream it opened.
    private Pin PinCircuit(ClientCircuit circuit, StrongBox<ClientStream?> opened)
    {
        var previous = _pinnedCircuit.Value;
        var previousOpened = _openedStream.Value;
        _pinnedCircuit.Value = circuit;
        _openedStream.Value = opened;
        return new Pin(this, previous, previousOpened);
    }

    /// <summary>Called by the transport with the stream it opened for a dial.</summary>
    internal void StreamOpened(ClientStream stream)
    {
        if (_openedStream.Value is { } box) box.Value = stream;
    }

    private readonly struct Pin(OnionClient client, ClientCircuit? previous, StrongBox<ClientStream?>? previousOpened) : IDisposable
    {
        public void Dispose()
        {
            client._pinnedCircuit.Value = previous;
            client._openedStream.Value = previousOpened;
        }
    }

    private bool Fits(ClientCircuit circuit, CircuitRequest request, int hops, DateTimeOffset now, bool ignoreDirtiness)
    {
        if (circuit.IsClosed || circuit.HopCount != hops || circuit.IsIntroduction || request.Last is not null) return false;
        if (!Equals(circuit.Isolation, request.Isolation)) return false;
        if (!ignoreDirtiness && circuit.FirstUsedAt is { } used && now - used >= Options.Client.MaxDirtiness) return false;
        if (now - circuit.CreatedAt >= Options.Client.CircuitLifetime) return false;
        if (circuit.StreamCount >= Options.Client.MaxStreamsPerCircuit) return false;
        var path = circuit.Path;
        for (int i = 0; i < request.Pinned.Count; i++)
            if (!path[i].Peer.Equals(request.Pinned[i])) return false;
        if (request.Destination is { } destination)
        {
            if (path.Any(r => r.Peer.Equals(destination))) return false;
            if (!circuit.Exit.AllowsExitTo(destination)) return false;
        }
        return true;
    }

    private int HopsOf(CircuitRequest request)
    {
        int hops = request.Hops ?? Math.Max(Options.Client.DefaultHops, request.Pinned.Count);
        if (hops is < 1 or > OnionClientOptions.MaxPathLength)
            throw new ArgumentOutOfRangeException(nameof(request), hops, $"a circuit has 1-{OnionClientOptions.MaxPathLength} hops");
        if (request.Pinned.Count > hops) throw new ArgumentException("more pinned relays than hops", nameof(request));
        return hops;
    }

    /// <summary>Called by a circuit as it ends.</summary>
    internal void CircuitEnded(ClientCircuit circuit, DestroyReason reason)
    {
        lock (_gate) _circuits.Remove(circuit);
        LogCircuitEnded(circuit.Id, OnionMetrics.Label(reason));
    }

    /// <summary>Closes old idle circuits and dirty idle ones, then tops up the preemptive circuits.</summary>
    public async Task MaintainAsync(CancellationToken cancellationToken)
    {
        var now = Time.GetUtcNow();
        List<ClientCircuit> retire;
        int clean;
        lock (_gate)
        {
            // A service's introduction circuits live as long as the service keeps them.
            retire = [.. _circuits.Where(c => !c.IsIntroduction && c.StreamCount == 0 && (now - c.CreatedAt >= Options.Client.CircuitLifetime
                || (c.FirstUsedAt is { } used && now - used >= Options.Client.MaxDirtiness)))];
            clean = _circuits.Count(c => !c.IsClosed && !retire.Contains(c) && c.FirstUsedAt is null && c.Isolation is null
                && c.HopCount == Options.Client.DefaultHops && c.Exit.AllowsExitTo(null));
        }
        foreach (var circuit in retire) await circuit.CloseAsync(DestroyReason.Finished).ConfigureAwait(false);
        int missing = Options.Client.PreemptiveCircuits - clean - Volatile.Read(ref _building);
        for (int i = 0; i < missing && !cancellationToken.IsCancellationRequested; i++)
        {
            try
            {
                await BuildAsync(new CircuitRequest(), cancellationToken).ConfigureAwait(false);
            }
            catch (CircuitException e)
            {
                LogPreemptiveFailed(e.Message);
                break;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        ClientCircuit[] circuits;
        lock (_gate) circuits = [.. _circuits];
        await Task.WhenAll(circuits.Select(c => c.CloseAsync(DestroyReason.Finished))).ConfigureAwait(false);
        _ephemerals.Dispose();
        _firstHop.Dispose();
    }

    /// <summary>
    /// Builds a circuit: the path from the directory, CREATE to the first relay, then one EXTEND per hop; a relay that
    /// fails is replaced by another (up to <see cref="OnionClientOptions.BuildRetries"/> times over the build), the
    /// circuit kept when the failure was an extension, rebuilt when the first hop failed or the circuit died. The
    /// handshakes of all hops are prepared in parallel with the first round trip.
    /// </summary>
    private async Task<ClientCircuit> BuildAsync(CircuitRequest request, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _disposed) != 0) throw new ObjectDisposedException(nameof(OnionClient));
        int hops = HopsOf(request);
        lock (_gate)
        {
            if (_circuits.Count + _building >= Options.Client.MaxCircuits)
                throw new ResourceLimitExceededException("onion client", "circuits", Options.Client.MaxCircuits);
            _building++;
        }
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        budget.CancelAfter(Options.Client.BuildTimeout);
        long started = Stopwatch.GetTimestamp();
        try
        {
            var circuit = await BuildPathAsync(request, hops, budget.Token).ConfigureAwait(false);
            circuit.BuildTime = Stopwatch.GetElapsedTime(started);
            circuit.Isolation = request.Isolation;
            Metrics.BuildSucceeded(hops, circuit.BuildTime);
            bool keep;
            lock (_gate)
            {
                keep = Volatile.Read(ref _disposed) == 0;
                if (keep) _circuits.Add(circuit);
            }
            if (!keep)
            {
                await circuit.CloseAsync(DestroyReason.Finished).ConfigureAwait(false);
                throw new ObjectDisposedException(nameof(OnionClient));
            }
            LogBuilt(circuit.Id, hops, circuit.BuildTime.TotalMilliseconds);
            if (Cover is { } cover) circuit.StartCover(cover);
            return circuit;
        }
        catch (OperationCanceledException) when (budget.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            Metrics.BuildFailed();
            Metrics.BuildStepFailed("timeout");
            throw new CircuitException(DestroyReason.Timeout, $"building a {hops}-hop circuit took longer than {Options.Client.BuildTimeout.TotalSeconds:0.#} s");
        }
        catch (Exception e) when (e is CircuitException or OnionFormatException)
        {
            Metrics.BuildFailed();
            if (e is NoPathException) Metrics.BuildStepFailed("no_path");
            throw;
        }
        finally
        {
            lock (_gate) _building--;
            _ephemerals.Refill(); // after the build, not beside its round trips
            // A pinned first relay (a client's entry, as a guard) is likely the next build's first hop too.
            if (Options.Client.PreparedHandshakeKeys > 0 && Volatile.Read(ref _disposed) == 0
                && request.Pinned is [var entry, ..] && Directory.Get(entry) is { } first)
                _firstHop.PrepareFor(first);
        }
    }

    private async Task<ClientCircuit> BuildPathAsync(CircuitRequest request, int hops, CancellationToken token)
    {
        var selector = new PathSelector(Options.Client.Diversity);
        var relays = Directory.Relays;
        var excluded = new HashSet<PeerId>(Options.Client.ExcludedRelays);
        var pinned = request.Pinned.Select(p => Directory.Get(p)
            ?? throw new NoPathException($"pinned relay {p} has no valid descriptor in the directory")).ToList();
        var last = request.Last is { } lastPeer
            ? Directory.Get(lastPeer) ?? await Directory.FetchAsync(lastPeer, token).ConfigureAwait(false)
                ?? throw new NoPathException($"relay {lastPeer} has no valid descriptor in the directory or the DHT")
            : null;
        var path = selector.Select(relays, hops, pinned, request.Destination, Host.PeerId, excluded, last).ToList();
        int retries = Options.Client.BuildRetries;
        // Hops 2.. are prepared on the thread pool during the first round trips; the first hop's handshake, cheap with
        // its keys generated ahead, here (a thread-pool hand-off would cost the first step as much as it saves).
        var prepared = path.Select((relay, i) => i == 0 ? null : Prepare(relay)).ToList();
        var keyWaits = new List<(int Hop, string Phase, TimeSpan Time)>(hops);
        ClientCircuit? circuit = null;
        try
        {
            while (true)
            {
                token.ThrowIfCancellationRequested();
                int position = circuit?.HopCount ?? 0;
                if (position == hops)
                {
                    circuit!.BuildPhases.AddRange(keyWaits);
                    return circuit;
                }
                long waitStart = Stopwatch.GetTimestamp();
                OnionHandshake.Client handshake;
                if (prepared[position] is { } pending) handshake = await pending.WaitAsync(token).ConfigureAwait(false);
                else
                {
                    handshake = (position == 0 ? _firstHop.Take(path[0]) : null) ?? PrepareNow(path[position]);
                    // Held with the others so that a cancellation or an unexpected error erases it too.
                    prepared[position] = Task.FromResult(handshake);
                }
                keyWaits.Add((position + 1, "wait key prepared", Stopwatch.GetElapsedTime(waitStart)));
                try
                {
                    using var step = CancellationTokenSource.CreateLinkedTokenSource(token);
                    step.CancelAfter(Options.Client.HopTimeout);
                    try
                    {
                        if (circuit is null) circuit = await ClientCircuit.CreateAsync(this, path[0], handshake, step.Token).ConfigureAwait(false);
                        else await circuit.ExtendAsync(path[position], handshake, step.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (step.IsCancellationRequested && !token.IsCancellationRequested)
                    {
                        throw new CircuitException(DestroyReason.Timeout, $"hop {position + 1} did not answer within {Options.Client.HopTimeout.TotalSeconds:0.#} s");
                    }
                }
                catch (Exception e) when (e is CircuitException or OnionFormatException && e is not NoPathException)
                {
                    handshake.Dispose();
                    string reason = e switch
                    {
                        OnionHandshakeException => "handshake",
                        CircuitException c => OnionMetrics.Label(c.Reason),
                        _ => "protocol",
                    };
                    Metrics.BuildStepFailed(reason);
                    LogStepFailed(position + 1, reason);
                    if (retries-- <= 0) throw e as CircuitException ?? new CircuitException(DestroyReason.Protocol, e.Message, e);
                    bool circuitLost = circuit is not null && circuit.IsClosed;
                    if (circuitLost)
                    {
                        // The partial circuit died: start over from the first hop, keeping the path minus the culprit.
                        circuit = null;
                        position = 0;
                    }
                    // A pinned relay cannot be replaced.
                    if (position < pinned.Count || (last is not null && position == hops - 1))
                        throw e as CircuitException ?? new CircuitException(DestroyReason.Protocol, e.Message, e);
                    excluded.Add(path[position].Peer);
                    var replacement = selector.Replace(Directory.Relays, path, position, request.Destination, Host.PeerId, excluded, last is not null)
                        ?? throw new NoPathException($"no relay left to replace hop {position + 1}, which failed: {e.Message}");
                    path[position] = replacement;
                    Discard(prepared[position]);
                    prepared[position] = Prepare(replacement);
                    if (circuitLost)
                        for (int i = 1; i < prepared.Count; i++)
                        {
                            Discard(prepared[i]); // prepared for the lost circuit, never sent: erased, not left to the GC
                            prepared[i] = Prepare(path[i]);
                        }
                    continue;
                }
            }
        }
        catch
        {
            if (circuit is not null) await circuit.CloseAsync(DestroyReason.Finished).ConfigureAwait(false);
            foreach (var task in prepared) Discard(task);
            throw;
        }
    }

    // Erases a prepared handshake no longer wanted (disposing twice is harmless): now if it is ready, else when it is.
    private static void Discard(Task<OnionHandshake.Client>? prepared)
    {
        if (prepared is null) return;
        if (prepared.IsCompletedSuccessfully) prepared.Result.Dispose();
        else if (!prepared.IsCompleted)
            prepared.ContinueWith(static t => t.Result.Dispose(), CancellationToken.None,
                TaskContinuationOptions.OnlyOnRanToCompletion | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    // The client half of a hop's key agreement (the encapsulation to the onion key; the ephemeral keys come generated
    // ahead, the onion key imported once), computed off the caller's path so that it overlaps the round trips of the
    // hops before it.
    private Task<OnionHandshake.Client> Prepare(RelayInfo relay) => Task.Run(() => PrepareNow(relay));

    private OnionHandshake.Client PrepareNow(RelayInfo relay)
    {
        var handshake = new OnionHandshake.Client(relay.Peer.Bytes.Span, OnionPublicKey.For(relay.OnionKey), _ephemerals.Take());
        HandshakePrepared?.Invoke(handshake);
        return handshake;
    }

    /// <summary>Called with each hop's handshake as it is prepared (tests: that every one is erased).</summary>
    internal Action<OnionHandshake.Client>? HandshakePrepared { get; set; }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Circuit {Id} built: {Hops} hops in {Milliseconds:0.##} ms")]
    private partial void LogBuilt(string id, int hops, double milliseconds);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Circuit build step at hop {Hop} failed: {Reason}")]
    private partial void LogStepFailed(int hop, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Circuit {Id} failed on an internal error; ended with DESTROY internal")]
    internal partial void LogCircuitInternalError(string id, Exception error);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Circuit {Id} ended: {Reason}")]
    private partial void LogCircuitEnded(string id, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Preparing the next build's first hop ahead failed (builds prepare it on their path instead; logged once)")]
    private partial void LogFirstHopPreparationFailed(Exception error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Could not build a preemptive circuit: {Reason}")]
    private partial void LogPreemptiveFailed(string reason);
}

/// <summary>A fresh Ed25519 identity for one end-to-end connection (the default of <see cref="OnionClient.ConnectAsync"/>).</summary>
public sealed class EphemeralIdentity : ILocalIdentity
{
    public EphemeralIdentity()
    {
        PrivateKey = P2PStack.Identity.PrivateKey.Generate(KeyType.Ed25519);
        PeerId = PeerId.FromPublicKey(PrivateKey.PublicKey);
    }

    public PrivateKey PrivateKey { get; }

    public PeerId PeerId { get; }
}
