using System.Buffers;
using System.Diagnostics;
using System.Security.Cryptography;
using Google.Protobuf;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Privacy.Onion.Crypto;
using P2PStack.Privacy.Onion.Directory;
using P2PStack.Privacy.Onion.Relay;
using P2PStack.Privacy.Onion.Wire;
using P2PStack.Privacy.Padding;

namespace P2PStack.Privacy.Onion.Client;

/// <summary>What a client knows of one of its circuits.</summary>
public sealed record CircuitInfo(
    string Id,
    IReadOnlyList<PeerId> Relays,
    DateTimeOffset CreatedAt,
    TimeSpan BuildTime,
    int Streams,
    bool Dirty,
    bool Closed);

/// <summary>
/// A circuit as its client holds it: the link to the first relay, one pair of layers per hop, the streams opened over
/// it. Relay cells to hop k are built by applying the client's transform of hops k..1 (innermost first); cells coming
/// back are peeled hop by hop until one hop's layer leaves the zero tag. One reader (the loop over the link) and
/// writers under the link's lock; the forward layers are only used under that lock, so their counters follow the
/// wire order.
/// </summary>
internal sealed partial class ClientCircuit
{
    private readonly OnionClient _client;
    private readonly CellLink _link;
    private readonly CellLayout _layout;
    private Hop[] _hops = [];
    private readonly Dictionary<ushort, ClientStream> _streams = [];
    private readonly Queue<byte[]> _sendmeTags = new();
    private readonly CancellationTokenSource _lifetime = new();
    private readonly TaskCompletionSource<DestroyReason> _closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly byte[] _tagBefore = new byte[LayerCipher.TagSize];
    private readonly List<ClientStream> _touched = [];
    private readonly List<byte[]> _pendingSendmes = [];
    private readonly byte[] _sendmeBody = new byte[1 + LayerCipher.TagSize];
    private TaskCompletionSource<byte[]>? _extended;
    private Func<ClientStream, bool>? _introduced;
    private TaskCompletionSource<IntroStatus>? _introEstablished;
    private Task _reader = Task.CompletedTask;
    private int _cellsUntilSendmeTag;
    private int _nextStreamId;
    private int _closing;
    private long _firstUsedTicks;

    private ClientCircuit(OnionClient client, CellLink link)
    {
        _client = client;
        _link = link;
        _layout = link.Layout;
        Id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        CreatedAt = client.Time.GetUtcNow();
        var flow = client.Options.FlowControl;
        PackageWindow = new FlowWindow(flow.CircuitWindow, resumeWaitersInline: client.Options.Client.ReadLinkOnMuxerLoop);
        _cellsUntilSendmeTag = flow.CircuitSendmeIncrement;
        _deliver = new DeliveryWindow(flow.CircuitWindow, flow.CircuitSendmeIncrement);
    }

    private readonly DeliveryWindow _deliver;

    public string Id { get; }

    public DateTimeOffset CreatedAt { get; }

    /// <summary>Time from the first CREATE to the last EXTENDED.</summary>
    public TimeSpan BuildTime { get; internal set; }

    /// <summary>Where the build's time went, phase by phase (hop number and phase name, in order): the stopwatch
    /// breakdown the loopback benchmark reports.</summary>
    internal List<(int Hop, string Phase, TimeSpan Time)> BuildPhases { get; } = [];

    internal void Phase(int hop, string phase, ref long since)
    {
        long now = Stopwatch.GetTimestamp();
        BuildPhases.Add((hop, phase, Stopwatch.GetElapsedTime(since, now)));
        since = now;
    }

    public IReadOnlyList<RelayInfo> Path => [.. _hops.Select(h => h.Relay)];

    public int HopCount => _hops.Length;

    internal CellLayout Layout => _layout;

    /// <summary>The link to the first relay (writers hold its lock while they write).</summary>
    internal CellLink Link => _link;

    public RelayInfo Exit => _hops[^1].Relay;

    /// <summary>Forward DATA cells the circuit window still allows.</summary>
    public FlowWindow PackageWindow { get; }

    public bool IsClosed => _closed.Task.IsCompleted || Volatile.Read(ref _closing) != 0;

    /// <summary>Completes with the reason once the circuit has ended.</summary>
    public Task<DestroyReason> Completion => _closed.Task;

    /// <summary>When the first stream was opened (the circuit is dirty from then on), or null.</summary>
    public DateTimeOffset? FirstUsedAt
    {
        get
        {
            long ticks = Interlocked.Read(ref _firstUsedTicks);
            return ticks == 0 ? null : new DateTimeOffset(ticks, TimeSpan.Zero);
        }
    }

    public int StreamCount
    {
        get { lock (_streams) return _streams.Count; }
    }

    public CircuitInfo Info(TimeSpan maxDirtiness) => new(Id, [.. _hops.Select(h => h.Relay.Peer)], CreatedAt, BuildTime, StreamCount,
        FirstUsedAt is { } used && _client.Time.GetUtcNow() - used >= maxDirtiness, IsClosed);

    /// <summary>Opens the link to the first relay and runs CREATE/CREATED; the circuit then has one hop.</summary>
    public static async Task<ClientCircuit> CreateAsync(OnionClient client, RelayInfo first, OnionHandshake.Client handshake,
        CancellationToken cancellationToken)
    {
        long phaseStart = Stopwatch.GetTimestamp();
        IStream stream;
        try
        {
            stream = await PeerConnector.OpenStreamAsync(client.Host, first.Peer, first.Addresses, allowPrivate: true,
                client.Options.ProtocolId, cancellationToken, client.Links, writesFirst: true).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            throw new CircuitException(DestroyReason.ConnectFailed, $"cannot reach the first relay: {e.Message}", e);
        }
        var link = new CellLink(client.LinkInterceptor?.Invoke(stream) ?? stream, client.Options.Layout);
        var circuit = new ClientCircuit(client, link);
        circuit.Phase(1, "open stream", ref phaseStart);
        try
        {
            await link.LockAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var create = handshake.Create;
                int cells = link.Layout.HandshakeCells(create.Length);
                for (int i = 0; i < cells; i++)
                {
                    CellCodec.WriteHandshake(link.Begin(), link.Layout, CellCommand.Create, create, i);
                    link.Commit();
                }
                await link.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                link.Unlock();
            }
            circuit.Phase(1, "send CREATE", ref phaseStart);
            var created = await ReadCreatedAsync(link, cancellationToken).ConfigureAwait(false);
            circuit.Phase(1, "wait CREATED", ref phaseStart);
            var keys = handshake.Complete(created);
            circuit.Phase(1, "complete handshake", ref phaseStart);
            circuit.AddHop(first, keys);
            circuit._reader = circuit.ReadLoopAsync();
            return circuit;
        }
        catch
        {
            await link.CloseAsync(abort: true, client.Options.TeardownTimeout).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Extends the circuit by one hop through its last one (EXTEND in RELAY_EARLY cells, EXTENDED back).</summary>
    /// <exception cref="CircuitException">TRUNCATED (the circuit stays as it was), or the circuit ended.</exception>
    public async Task ExtendAsync(RelayInfo relay, OnionHandshake.Client handshake, CancellationToken cancellationToken)
    {
        long phaseStart = Stopwatch.GetTimestamp();
        int hop = _hops.Length + 1;
        var extend = new Pb.Extend { PeerId = ByteString.CopyFrom(relay.Peer.Bytes.Span), Create = ByteString.CopyFrom(handshake.Create) };
        foreach (var address in relay.Addresses.Take(16)) extend.Addresses.Add(ByteString.CopyFrom(address.Bytes.Span));
        var pending = new TaskCompletionSource<byte[]>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (Interlocked.CompareExchange(ref _extended, pending, null) is not null) throw new InvalidOperationException("already extending");
        try
        {
            await SendMessageAsync(_hops.Length - 1, RelayCommand.Extend, 0, extend.ToByteArray(), early: true, cancellationToken)
                .ConfigureAwait(false);
            Phase(hop, "send EXTEND", ref phaseStart);
            var finished = await Task.WhenAny(pending.Task, Completion).WaitAsync(cancellationToken).ConfigureAwait(false);
            if (finished != pending.Task)
            {
                _ = pending.Task.Exception; // faulted by the end before Completion: observed here, not by the finalizer
                throw new CircuitException(await Completion.ConfigureAwait(false), "the circuit ended while extending");
            }
            var created = await pending.Task.ConfigureAwait(false);
            Phase(hop, "wait EXTENDED", ref phaseStart);
            var keys = handshake.Complete(created);
            Phase(hop, "complete handshake", ref phaseStart);
            AddHop(relay, keys);
        }
        finally
        {
            Interlocked.CompareExchange(ref _extended, null, pending);
        }
    }

    /// <summary>Opens a stream to <paramref name="destination"/> through the exit. Data may follow at once (the exit
    /// queues it until the destination is reached); a refusal ends the stream with its reason.</summary>
    public Task<ClientStream> OpenStreamAsync(PeerId destination, IReadOnlyList<Multiaddr> addresses, Multiaddr localAddress,
        Multiaddr remoteAddress, CancellationToken cancellationToken)
    {
        var begin = new Pb.Begin { PeerId = ByteString.CopyFrom(destination.Bytes.Span) };
        foreach (var address in addresses.Take(16)) begin.Addresses.Add(ByteString.CopyFrom(address.Bytes.Span));
        return OpenAsync(RelayCommand.Begin, begin.ToByteArray(), localAddress, remoteAddress, cancellationToken);
    }

    /// <summary>Opens a stream to the shadow service registered at the last hop under <paramref name="authKey"/>
    /// (INTRODUCE; docs/specs/shadow.md, section 7). CONNECTED comes once the relay has joined it to the service's
    /// circuit; END <c>no_introduction</c>, <c>resource_limit</c> or (a replayed INTRODUCE) <c>protocol</c> when it refuses.</summary>
    public Task<ClientStream> OpenIntroductionAsync(ReadOnlyMemory<byte> authKey, Multiaddr localAddress, Multiaddr remoteAddress,
        CancellationToken cancellationToken) =>
        OpenIntroductionAsync(authKey, RandomNumberGenerator.GetBytes(IntroductionRegistry.NonceSize), localAddress, remoteAddress, cancellationToken);

    /// <summary>INTRODUCE with a given nonce (a fresh random one per introduction; the relay refuses one it forwarded
    /// before).</summary>
    internal Task<ClientStream> OpenIntroductionAsync(ReadOnlyMemory<byte> authKey, ReadOnlySpan<byte> nonce, Multiaddr localAddress,
        Multiaddr remoteAddress, CancellationToken cancellationToken)
    {
        if (nonce.Length != IntroductionRegistry.NonceSize) throw new ArgumentException($"an introduction nonce has {IntroductionRegistry.NonceSize} bytes", nameof(nonce));
        byte[] message = [.. authKey.Span, .. nonce];
        return OpenAsync(RelayCommand.Introduce, message, localAddress, remoteAddress, cancellationToken);
    }

    private async Task<ClientStream> OpenAsync(RelayCommand command, ReadOnlyMemory<byte> message, Multiaddr localAddress,
        Multiaddr remoteAddress, CancellationToken cancellationToken)
    {
        ClientStream stream;
        lock (_streams)
        {
            if (IsClosed) throw new CircuitException(DestroyReason.Finished, "the circuit has ended");
            if (_introduced is not null) throw new InvalidOperationException("a service's introduction circuit opens no streams");
            if (_streams.Count >= _client.Options.Client.MaxStreamsPerCircuit)
                throw new ResourceLimitExceededException($"circuit {Id}", "streams", _client.Options.Client.MaxStreamsPerCircuit);
            ushort id;
            do
            {
                id = (ushort)(Interlocked.Increment(ref _nextStreamId) & 0xFFFF);
            } while (id == 0 || _streams.ContainsKey(id));
            stream = new ClientStream(this, id, _client.Options.FlowControl, _client.Options.Client.StreamWriteAheadBytes,
                _client.Options.Client.ReadLinkOnMuxerLoop, _client.Options.Client.PumpOnWriter, localAddress, remoteAddress);
            _streams[id] = stream;
        }
        Interlocked.CompareExchange(ref _firstUsedTicks, _client.Time.GetUtcNow().UtcTicks, 0);
        try
        {
            await SendMessageAsync(_hops.Length - 1, command, stream.Id, message, early: false, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            RemoveStream(stream);
            throw;
        }
        stream.Start();
        return stream;
    }

    /// <summary>
    /// Registers this circuit at its last hop as an introduction point for <paramref name="authKey"/>
    /// (ESTABLISH_INTRO, INTRO_ESTABLISHED back). From then on every INTRODUCED opens an inbound stream, handed to
    /// <paramref name="onIntroduced"/> (false: refused, the stream is reset). The circuit then carries nothing else.
    /// </summary>
    public async Task<IntroStatus> EstablishIntroductionAsync(ReadOnlyMemory<byte> authKey, Func<ClientStream, bool> onIntroduced,
        CancellationToken cancellationToken)
    {
        var pending = new TaskCompletionSource<IntroStatus>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_streams)
        {
            if (_introduced is not null || _streams.Count > 0 || FirstUsedAt is not null)
                throw new InvalidOperationException("only an unused circuit becomes an introduction circuit");
            _introduced = onIntroduced;
            _introEstablished = pending;
        }
        Interlocked.CompareExchange(ref _firstUsedTicks, _client.Time.GetUtcNow().UtcTicks, 0);
        await SendMessageAsync(_hops.Length - 1, RelayCommand.EstablishIntro, 0, authKey, early: false, cancellationToken).ConfigureAwait(false);
        var finished = await Task.WhenAny(pending.Task, Completion).WaitAsync(cancellationToken).ConfigureAwait(false);
        if (finished != pending.Task)
        {
            // The end faulted the registration before it completed Completion, but WhenAny may still pick Completion:
            // the fault is observed here, or it surfaces as an unobserved task exception (fuzz target onion-client).
            _ = pending.Task.Exception;
            throw new CircuitException(await Completion.ConfigureAwait(false), "the circuit ended while registering");
        }
        return await pending.Task.ConfigureAwait(false);
    }

    /// <summary>Whether this circuit is a service's introduction circuit (no streams of its own, never reused).</summary>
    /// <summary>The isolation key it was built for (<see cref="CircuitRequest.Isolation"/>); null: shared.</summary>
    internal object? Isolation { get; set; }

    internal bool IsIntroduction => Volatile.Read(ref _introduced) is not null;

    /// <summary>Sends a DROP cell to <paramref name="hop"/> (padding that hop discards; the hops before it cannot tell
    /// it from data).</summary>
    public Task SendPaddingAsync(int hop, CancellationToken cancellationToken) =>
        SendMessageAsync(hop, RelayCommand.Drop, 0, ReadOnlyMemory<byte>.Empty, early: false, cancellationToken);

    /// <summary>Sends a link PADDING cell to the first relay, which drops it.</summary>
    public Task SendLinkPaddingAsync(CancellationToken cancellationToken) =>
        _link.SendControlAsync(CellCommand.Padding, DestroyReason.None, cancellationToken);

    /// <summary>
    /// Starts the circuit's cover traffic: at each event of <paramref name="cover"/>, a DROP cell to the last hop if
    /// this side wrote no cell on the link since the previous event (docs/specs/onion.md, section 8a). Stops with the
    /// circuit.
    /// </summary>
    internal void StartCover(CoverSchedule cover)
    {
        Volatile.Write(ref _coverSeen, _link.CellsWritten);
        _cover = cover.RunAsync(_client.Time, SendCoverIfIdleAsync, _lifetime.Token);
    }

    private Task _cover = Task.CompletedTask;
    private long _coverSeen;
    private long _coverEvents;

    /// <summary>Events of the cover process handled so far (with or without a cell).</summary>
    internal long CoverEvents => Interlocked.Read(ref _coverEvents);

    private async ValueTask SendCoverIfIdleAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _link.LockAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                if (IsClosed) return;
                if (_link.CellsWritten == _coverSeen)
                {
                    // The last hop drops it; every link before it carries a cell no hop on the way can tell from data.
                    var span = _link.Begin();
                    span[0] = (byte)CellCommand.Relay;
                    CellCodec.WriteRelayPlaintext(span[1..], RelayCommand.Drop, 0, ReadOnlySpan<byte>.Empty, more: false);
                    Wrap(span[1..], Volatile.Read(ref _hops).Length - 1, recordTag: false);
                    _link.Commit();
                    await _link.FlushAsync(cancellationToken).ConfigureAwait(false);
                    _client.Metrics.CoverSent();
                }
                _coverSeen = _link.CellsWritten;
            }
            finally
            {
                _link.Unlock();
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException)
        {
            // The link is gone (a closed link says so with a LinkClosedException); the reader ends the circuit.
        }
        catch (Exception e)
        {
            // A bug: the circuit ends as internal (not awaited: the end waits for this process to stop).
            _ = FailAsync(e);
        }
        finally
        {
            Interlocked.Increment(ref _coverEvents);
        }
    }

    /// <summary>Ends the circuit: DESTROY to the first relay (which passes it on), streams fail.</summary>
    public Task CloseAsync(DestroyReason reason = DestroyReason.Requested) => EndAsync(reason, sendDestroy: true);

    /// <summary>The circuit's lifetime token (streams link their work to it).</summary>
    internal CancellationToken Lifetime => _lifetime.Token;

    internal void RemoveStream(ClientStream stream)
    {
        lock (_streams)
        {
            if (_streams.TryGetValue(stream.Id, out var current) && ReferenceEquals(current, stream)) _streams.Remove(stream.Id);
        }
    }

    /// <summary>Sends one relay message to <paramref name="hop"/>, fragmented over cells, under the link's lock.</summary>
    internal async Task SendMessageAsync(int hop, RelayCommand command, ushort streamId, ReadOnlyMemory<byte> data, bool early,
        CancellationToken cancellationToken)
    {
        if (IsClosed) throw new CircuitException(DestroyReason.Finished, "the circuit has ended");
        await _link.LockAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (IsClosed) throw new CircuitException(DestroyReason.Finished, "the circuit has ended");
            int capacity = _layout.RelayDataCapacity;
            int cells = _layout.RelayCells(data.Length);
            for (int i = 0; i < cells; i++)
            {
                if (_link.FlushDue) await _link.FlushAsync(cancellationToken).ConfigureAwait(false);
                var chunk = data.Slice(i * capacity, Math.Min(capacity, data.Length - i * capacity)).Span;
                var span = _link.Begin();
                span[0] = (byte)(early ? CellCommand.RelayEarly : CellCommand.Relay);
                CellCodec.WriteRelayPlaintext(span[1..], command, streamId, chunk, more: i < cells - 1);
                Wrap(span[1..], hop, recordTag: false);
                _link.Commit();
            }
            await _link.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _link.Unlock();
        }
    }

    /// <summary>Sends SENDMEs to the exit in one write: a circuit SENDME for each tag in <paramref name="circuitTags"/>, then
    /// <paramref name="streamSendmes"/> stream SENDMEs for <paramref name="streamId"/>. One flush for all of them: every
    /// flush is a write through each relay on the way, and a thread woken at each.</summary>
    internal async Task SendSendmesAsync(IReadOnlyList<byte[]> circuitTags, ushort streamId, int streamSendmes, CancellationToken cancellationToken)
    {
        if (circuitTags.Count == 0 && streamSendmes == 0) return;
        if (IsClosed) throw new CircuitException(DestroyReason.Finished, "the circuit has ended");
        int exit = _hops.Length - 1;
        await _link.LockAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (IsClosed) throw new CircuitException(DestroyReason.Finished, "the circuit has ended");
            for (int i = 0; i < circuitTags.Count + streamSendmes; i++)
            {
                if (_link.FlushDue) await _link.FlushAsync(cancellationToken).ConfigureAwait(false);
                var span = _link.Begin();
                CellCodec.WriteSendmeCell(span, circuitTags, i, streamId, _sendmeBody); // _sendmeBody: under the link's lock only
                Wrap(span[1..], exit, recordTag: false);
                _link.Commit();
            }
            await _link.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _link.Unlock();
        }
    }

    /// <summary>Sends stream data as DATA cells to the exit (the windows were taken by the caller). The cells are made
    /// in batches of up to a flush's worth straight in the link's pipe (<see cref="WriteDataCells"/>), one flush per
    /// batch.</summary>
    internal async Task SendDataAsync(ushort streamId, ReadOnlySequence<byte> data, CancellationToken cancellationToken)
    {
        int capacity = _layout.RelayDataCapacity;
        await _link.LockAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (IsClosed) throw new CircuitException(DestroyReason.Finished, "the circuit has ended");
            while (!data.IsEmpty)
            {
                if (_link.FlushDue) await _link.FlushAsync(cancellationToken).ConfigureAwait(false);
                long needed = (data.Length + capacity - 1) / capacity;
                var cells = _link.Begin((int)Math.Min(needed, _link.CellsBeforeFlush));
                data = WriteDataCells(cells, streamId, data);
                _link.Commit(cells.Length / _layout.CellSize);
            }
            await _link.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException e) when (e is not CircuitException && IsClosed)
        {
            // The circuit ended while this send waited (its end closes or resets the link under a flush waiting for
            // the muxer's window): the caller sees the circuit's end, as a send that starts after it does.
            throw new CircuitException(_closed.Task.IsCompletedSuccessfully ? _closed.Task.Result : DestroyReason.Finished,
                "the circuit has ended", e);
        }
        finally
        {
            _link.Unlock();
        }
    }

    /// <summary>
    /// Fills <paramref name="cells"/> (whole cells, each with at least one byte of <paramref name="data"/> to carry) with
    /// DATA for <paramref name="streamId"/> and applies the layers of every hop to each; returns the data left. Two cells
    /// at a time, each pair finished (data copied from the sequence's segments without slicing it per cell, header
    /// written in place, only the bytes no data covers cleared, then the layers of both cells together:
    /// <see cref="LayerCipher.Decrypt(Span{byte}, Span{byte})"/>) before the next, so that a pair stays in the L1 cache
    /// from its copy to its last layer (a batch is up to 64 KiB). Under the link's lock.
    /// </summary>
    private ReadOnlySequence<byte> WriteDataCells(Span<byte> cells, ushort streamId, ReadOnlySequence<byte> data)
    {
        int cellSize = _layout.CellSize;
        int capacity = _layout.RelayDataCapacity;
        int count = cells.Length / cellSize;
        long length = Math.Min(data.Length, (long)count * capacity);
        Debug.Assert(length > (long)(count - 1) * capacity, "every cell carries data");
        const int dataOffset = 1 + LayerCipher.TagSize + CellLayout.RelayHeaderSize;
        var reader = new SequenceReader<byte>(data.Slice(0, length));
        var hops = _hops;
        int exit = hops.Length - 1;
        int body = cellSize - 1;
        for (int i = 0; i < count; i += 2)
        {
            var first = cells.Slice(i * cellSize, cellSize);
            FillDataCell(first, streamId, ref reader, capacity, dataOffset);
            if (i + 1 == count)
            {
                Wrap(first[1..], exit, recordTag: true);
                break;
            }
            var second = cells.Slice((i + 1) * cellSize, cellSize);
            FillDataCell(second, streamId, ref reader, capacity, dataOffset);
            var a = first.Slice(1, body);
            var b = second.Slice(1, body);
            hops[exit].Forward.Decrypt(a, b);
            RecordSendmeTag(a);
            RecordSendmeTag(b);
            for (int hop = exit - 1; hop >= 0; hop--) hops[hop].Forward.Decrypt(a, b);
        }
        return data.Slice(length);
    }

    // One DATA cell's plaintext: up to a cell's data from the reader, the header in front of it, zeros after it.
    private static void FillDataCell(Span<byte> cell, ushort streamId, ref SequenceReader<byte> reader, int capacity, int dataOffset)
    {
        int carried = (int)Math.Min(capacity, reader.Remaining);
        var target = cell.Slice(dataOffset, carried);
        var unread = reader.UnreadSpan;
        if (unread.Length >= carried) unread[..carried].CopyTo(target);
        else reader.TryCopyTo(target);
        reader.Advance(carried);
        cell[0] = (byte)CellCommand.Relay;
        CellCodec.WriteRelayHeader(cell[1..], RelayCommand.Data, streamId, carried, more: false);
        cell[(dataOffset + carried)..].Clear();
    }

    // The layers of hops target..0, innermost first; for DATA the exit's view of the tag is kept at each SENDME
    // increment, to check the exit's circuit SENDMEs.
    private void Wrap(Span<byte> body, int target, bool recordTag)
    {
        var hops = _hops;
        hops[target].Forward.Decrypt(body);
        if (recordTag) RecordSendmeTag(body);
        for (int hop = target - 1; hop >= 0; hop--) hops[hop].Forward.Decrypt(body);
    }

    // A DATA cell to the exit, the exit's layer applied: every increment-th one's tag is what the exit's circuit SENDME
    // for it will carry.
    private void RecordSendmeTag(ReadOnlySpan<byte> body)
    {
        if (--_cellsUntilSendmeTag != 0) return;
        _cellsUntilSendmeTag = _client.Options.FlowControl.CircuitSendmeIncrement;
        lock (_sendmeTags) _sendmeTags.Enqueue(body[..LayerCipher.TagSize].ToArray());
    }

    private void AddHop(RelayInfo relay, HopKeys keys)
    {
        var (forward, backward) = keys.CreateLayers(client: true);
        var hop = new Hop(relay, forward, backward, new RelayMessageAssembler(_client.Options.MaxRelayMessageSize));
        Volatile.Write(ref _hops, [.. _hops, hop]);
    }

    private static async Task<byte[]> ReadCreatedAsync(CellLink link, CancellationToken cancellationToken)
    {
        var assembler = new HandshakeAssembler(link.Layout, CellCommand.Created, 4096);
        var cell = new byte[link.Layout.CellSize];
        while (true)
        {
            if (!await link.ReadCellAsync(cell, cancellationToken).ConfigureAwait(false))
                throw new CircuitException(DestroyReason.LinkClosed, "the first relay closed the link before CREATED");
            switch ((CellCommand)cell[0])
            {
                case CellCommand.Padding:
                    continue;
                case CellCommand.Created:
                    if (assembler.Add(cell.AsSpan(1)) is { } created) return created;
                    break;
                case CellCommand.Destroy:
                    throw new CircuitException((DestroyReason)cell[1], $"the first relay refused the circuit ({OnionMetrics.Label((DestroyReason)cell[1])})");
                default:
                    throw new OnionFormatException($"{(CellCommand)cell[0]} cell instead of CREATED");
            }
        }
    }

    private sealed record Hop(RelayInfo Relay, LayerCipher Forward, LayerCipher Backward, RelayMessageAssembler Assembler);
}
