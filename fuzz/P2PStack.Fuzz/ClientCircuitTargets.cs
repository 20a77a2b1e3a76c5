using System.Buffers;
using System.IO.Pipelines;
using System.Reflection;
using Google.Protobuf;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Privacy.Onion;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Privacy.Onion.Crypto;
using P2PStack.Privacy.Onion.Directory;
using P2PStack.Privacy.Onion.Transport;
using P2PStack.Privacy.Onion.Wire;

namespace P2PStack.Fuzz;

/// <summary>
/// The onion client's reading of cells from its first relay (<see cref="ClientCircuit"/>): what comes back past the
/// backward layers (INTRO_ESTABLISHED, INTRODUCED, CONNECTED, END, SENDME, DATA, DROP, EXTENDED, TRUNCATED, unknown and
/// malformed messages) and link cells (DESTROY, PADDING, unknown commands). The fuzzer cannot forge the layers' MAC, so
/// the target plays the relays: a real <see cref="ClientCircuit"/> builds a circuit of one or two hops to it over an
/// in-memory link (CREATE, CREATED with <see cref="OnionHandshake.Respond"/>, EXTEND, EXTENDED), and the target sends
/// the input as relay messages under the hops' backward layers, so the client recognises and dispatches each.
/// </summary>
internal static class ClientCircuitTargets
{
    private static readonly TimeSpan Guard = TimeSpan.FromSeconds(5);
    private const int OpHeader = 5;

    // Increments of DATA cells the application writes on stream 1 in the writing mode: the circuit SENDMEs the target
    // can answer with the right tag.
    private const int WrittenIncrements = 2;

    private static class Fixed
    {
        private static PeerId Peer(int seed) => PeerId.FromPublicKey(Ed25519PrivateKey.FromSeed([.. Enumerable.Range(seed, 32).Select(i => (byte)i)]).PublicKey);

        public static readonly PeerId Client = Peer(60);

        public static readonly PeerId[] Relays = [Peer(70), Peer(80)];

        public static readonly PeerId Destination = Peer(90);

        public static readonly byte[] AuthKey = [.. Enumerable.Range(120, 32).Select(i => (byte)i)];

        // The relays' onion keys, made once (an X-Wing key pair per execution would only slow the fuzzer).
        public static readonly OnionKeyRing[] Keys =
            [.. Relays.Select(_ => new OnionKeyRing(TimeProvider.System, TimeSpan.FromDays(365), TimeSpan.Zero))];
    }

    /// <summary>
    /// Input: a mode byte, then relay messages as in <c>onion-introductions</c>. Mode: bit 0 an introduction circuit
    /// (ESTABLISH_INTRO sent first; INTRODUCED opens inbound streams), else a circuit with two streams to a destination
    /// (BEGIN for streams 1 and 2); bit 1 two hops, else one; bit 2 introduced streams are accepted, else refused
    /// (reset); bit 3 (stream circuits) the application first writes 2 x 100 DATA cells on stream 1. Each message: a
    /// 5-byte header, flags (bit 0: from the first hop instead of the last; bit 2: the "more" flag; bit 3: the data is
    /// the relay plaintext itself after the tag (header included, so lengths and flags the encoder would not write);
    /// bit 4: a raw link cell, its command the next byte and its body the data, under no layer; bit 5: a circuit
    /// SENDME whose tag is the one the client expects next, when the target has one), the relay command byte (any
    /// value), the stream id (2 bytes), the data length (one byte, at most a cell's capacity; the data follows, cut at
    /// the input's end). Each cell goes once the client has read the one before. The application reads every stream to
    /// its end. At the end the link closes: the circuit must end (5 s guard), every stream and the registration with
    /// it, with documented errors only, and never on an exception the client classifies as the link closing that the
    /// link did not throw, nor on one of no documented kind (<see cref="LinkErrors"/>).
    /// </summary>
    public static void ClientCells(byte[] input)
    {
        if (input.Length == 0) return;
        byte mode = input[0];
        bool introduction = (mode & 1) != 0;
        int hops = (mode & 2) != 0 ? 2 : 1;
        bool accept = (mode & 4) != 0;
        bool write = (mode & 8) != 0 && !introduction;

        var options = Options.Create(new OnionOptions());
        var layout = options.Value.Layout;
        var metrics = new OnionMetrics(null);
        var errors = new LinkErrors();
        using var guard = new CancellationTokenSource(Guard);
        using var relays = new RelaySide(layout, options.Value, errors, guard.Token);
        var host = ClientHostDouble.Create(Fixed.Client, relays.ClientEnd);
        var directory = new RelayDirectory(options, metrics, NullLogger<RelayDirectory>.Instance);
        var client = new OnionClient(host, options, directory, metrics, NullLogger<OnionClient>.Instance) { CircuitFailure = errors.Ended };
        var application = new List<Task>();
        var streams = new List<ClientStream>();
        Task<IntroStatus>? registration = null;
        ClientCircuit circuit;
        try
        {
            using (var first = new OnionHandshake.Client(Fixed.Relays[0].Bytes.Span, Fixed.Keys[0].Current.PublicKey))
                circuit = ClientCircuit.CreateAsync(client, Info(0, layout), first, guard.Token).GetAwaiter().GetResult();
            if (hops == 2)
            {
                using var second = new OnionHandshake.Client(Fixed.Relays[1].Bytes.Span, Fixed.Keys[1].Current.PublicKey);
                circuit.ExtendAsync(Info(1, layout), second, guard.Token).GetAwaiter().GetResult();
            }
            if (introduction)
            {
                registration = circuit.EstablishIntroductionAsync(Fixed.AuthKey, stream =>
                {
                    if (!accept) return false;
                    lock (application) application.Add(ReadToEndAsync(stream.Input));
                    return true;
                }, guard.Token);
            }
            else
            {
                for (int i = 0; i < 2; i++)
                {
                    var stream = circuit.OpenStreamAsync(Fixed.Destination, [], OnionAddress.Listen, OnionAddress.For(Fixed.Destination), guard.Token)
                        .GetAwaiter().GetResult();
                    streams.Add(stream);
                    lock (application) application.Add(ReadToEndAsync(stream.Input));
                }
                if (write)
                {
                    int cells = WrittenIncrements * options.Value.FlowControl.CircuitSendmeIncrement;
                    streams[0].Output.WriteAsync(new byte[cells * layout.RelayDataCapacity], guard.Token).AsTask().GetAwaiter().GetResult();
                    relays.DataReceived(cells).WaitAsync(guard.Token).GetAwaiter().GetResult();
                }
            }
            var cell = new byte[layout.CellSize];
            for (int offset = 1; offset + OpHeader <= input.Length;)
            {
                byte flags = input[offset];
                byte command = input[offset + 1];
                ushort id = (ushort)((input[offset + 2] << 8) | input[offset + 3]);
                int length = Math.Min(Math.Min(input[offset + 4], layout.RelayDataCapacity), input.Length - offset - OpHeader);
                var data = input.AsSpan(offset + OpHeader, length);
                offset += OpHeader + length;
                Array.Clear(cell);
                int from = (flags & 1) != 0 ? 0 : hops - 1;
                if ((flags & 0x10) != 0)
                {
                    cell[0] = command;
                    data.CopyTo(cell.AsSpan(1));
                }
                else
                {
                    cell[0] = (byte)CellCommand.Relay;
                    var body = cell.AsSpan(1);
                    if ((flags & 0x20) != 0 && relays.NextSendmeTag() is { } tag)
                        CellCodec.WriteRelayPlaintext(body, RelayCommand.Sendme, 0, [1, .. tag], more: false);
                    else if ((flags & 8) != 0)
                        data.CopyTo(body[LayerCipher.TagSize..]);
                    else
                        CellCodec.WriteRelayPlaintext(body, (RelayCommand)command, id, data, more: (flags & 4) != 0);
                    relays.Wrap(body, from);
                }
                if (!relays.SendAsync(cell).GetAwaiter().GetResult()) break; // the client closed the link
            }
        }
        catch (OperationCanceledException) when (guard.IsCancellationRequested)
        {
            throw new TimeoutException("the client stopped taking cells (or the build stalled)");
        }
        finally
        {
            relays.Close();
        }
        try
        {
            circuit.Completion.WaitAsync(guard.Token).GetAwaiter().GetResult();
            relays.Reader.WaitAsync(guard.Token).GetAwaiter().GetResult();
            // The circuit's end must end every stream's reading on its own; the application disposes a stream only
            // once its reader is done (a dispose completes the reader, which a read still running must not meet).
            Task[] running;
            lock (application) running = [.. application];
            foreach (var task in running) Expect(task, guard.Token, "a stream's reader");
            foreach (var stream in streams)
            {
                stream.DisposeAsync().AsTask().WaitAsync(guard.Token).GetAwaiter().GetResult();
                Expect(stream.Connected, guard.Token, "a stream's connection");
            }
            if (registration is not null) Expect(registration, guard.Token, "the registration");
        }
        catch (OperationCanceledException) when (guard.IsCancellationRequested)
        {
            throw new TimeoutException("the circuit, a stream or the registration did not end after the link closed");
        }
        errors.Check("the client");
    }

    // What the application sees must end in an error the client documents: IOExceptions (CircuitException,
    // OnionStreamException), cancellation, or a format error.
    private static void Expect(Task task, CancellationToken token, string what)
    {
        try
        {
            task.WaitAsync(token).GetAwaiter().GetResult();
        }
        catch (Exception e) when (e is IOException or P2PFormatException || (e is OperationCanceledException && !token.IsCancellationRequested))
        {
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            throw new InvalidOperationException($"{what} failed with {e.GetType().FullName}: {e.Message}", e);
        }
        finally
        {
            _ = task.Exception; // observed (WaitAsync does not mark it): the exceptions log keeps only what nobody saw
        }
    }

    private static async Task ReadToEndAsync(PipeReader reader)
    {
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync().ConfigureAwait(false);
                reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted) break;
            }
        }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    private static RelayInfo Info(int hop, CellLayout layout) => new()
    {
        Peer = Fixed.Relays[hop],
        Addresses = [],
        OnionKey = Fixed.Keys[hop].Current.PublicKey,
        Bandwidth = 1,
        MaxCircuits = 1,
        IsExit = true,
        ExitAllowed = [],
        ExitDenied = [],
        PublishedAt = DateTimeOffset.UnixEpoch,
        ExpiresAt = DateTimeOffset.MaxValue,
        CellSize = layout.CellSize,
        Protocol = new OnionOptions().ProtocolId,
    };

    public static IEnumerable<byte[]> ClientCellsSeeds()
    {
        static byte[] Op(RelayCommand command, ushort stream, ReadOnlySpan<byte> data, int flags = 0) =>
            [(byte)flags, (byte)command, (byte)(stream >> 8), (byte)stream, (byte)data.Length, .. data];

        const byte Streams = 0, Intro = 1, TwoHops = 2, Accept = 4, Write = 8;
        const int FromFirst = 1, More = 4, Plain = 8, Link = 0x10, AuthenticSendme = 0x20;
        // Streams connected, data both ways, stream SENDMEs, ends (done, and connect_failed), cover.
        yield return
        [
            Streams, .. Op(RelayCommand.Connected, 1, []), .. Op(RelayCommand.Data, 1, "hello"u8), .. Op(RelayCommand.Sendme, 1, []),
            .. Op(RelayCommand.Drop, 0, []), .. Op((RelayCommand)CellCommand.Padding, 0, [], Link), .. Op(RelayCommand.End, 1, [0]),
            .. Op(RelayCommand.End, 2, [3]), .. Op(RelayCommand.Data, 2, "late"u8),
        ];
        // Two hops, the application writing: the exit's circuit SENDMEs with the right tags, then one too many.
        yield return
        [
            TwoHops | Write, .. Op(RelayCommand.Connected, 1, []), .. Op(RelayCommand.Sendme, 0, [], AuthenticSendme),
            .. Op(RelayCommand.Sendme, 1, []), .. Op(RelayCommand.Sendme, 0, [], AuthenticSendme), .. Op(RelayCommand.Data, 2, "x"u8),
            .. Op(RelayCommand.Sendme, 0, [1, .. new byte[16]]),
        ];
        // A circuit SENDME with a wrong tag, and a malformed one.
        yield return [Write, .. Op(RelayCommand.Sendme, 0, [1, .. new byte[16]])];
        yield return [Streams, .. Op(RelayCommand.Sendme, 0, [2])];
        // A service's introduction circuit: registered, a client introduced, data, its end; the stream id again.
        yield return
        [
            Intro | Accept, .. Op(RelayCommand.IntroEstablished, 0, [0]), .. Op(RelayCommand.Introduced, 7, []),
            .. Op(RelayCommand.Data, 7, "hello service"u8), .. Op(RelayCommand.End, 7, [0]), .. Op(RelayCommand.Introduced, 8, []),
            .. Op(RelayCommand.Introduced, 8, []),
        ];
        // Refused introductions, a refused registration, over two hops; INTRODUCED from the first hop.
        yield return [Intro | TwoHops, .. Op(RelayCommand.IntroEstablished, 0, [1]), .. Op(RelayCommand.Introduced, 3, []), .. Op(RelayCommand.Introduced, 4, [], FromFirst)];
        yield return [Intro, .. Op(RelayCommand.IntroEstablished, 0, [0, 0])];
        yield return [Streams, .. Op(RelayCommand.IntroEstablished, 0, [0])];
        // Messages that do not travel to the client, from the wrong hop, or span cells where they may not.
        yield return [TwoHops, .. Op(RelayCommand.Data, 1, "x"u8, FromFirst)];
        yield return [Streams, .. Op(RelayCommand.Data, 1, "x"u8, More)];
        yield return [Streams, .. Op(RelayCommand.Connected, 1, "ab"u8, More), .. Op(RelayCommand.Connected, 1, [])];
        yield return [Streams, .. Op(RelayCommand.Begin, 1, [])];
        yield return [Streams, .. Op(RelayCommand.Extended, 0, [1, 2, 3])];
        yield return [Streams, .. Op(RelayCommand.Truncated, 0, [5])];
        yield return [Streams, .. Op((RelayCommand)77, 1, [])];
        // A plaintext the encoder would not write: a length past the cell, unknown flags.
        yield return [Streams, .. Op(0, 0, [(byte)RelayCommand.Data, 0, 1, 0xFF, 0xFF, 0, 1, 2], Plain)];
        yield return [Streams, .. Op(0, 0, [(byte)RelayCommand.Data, 0, 1, 0, 1, 0x80, 1], Plain)];
        // Link cells: DESTROY, an unknown command, a relay cell under no layer, CREATED on an open circuit.
        yield return [TwoHops, .. Op((RelayCommand)CellCommand.Destroy, 0, [3], Link)];
        yield return [Streams, .. Op((RelayCommand)0x42, 0, [], Link)];
        yield return [Streams, .. Op((RelayCommand)CellCommand.Relay, 0, [1, 2, 3], Link)];
        yield return [Streams, .. Op((RelayCommand)CellCommand.Created, 0, [0, 4, 1, 2, 3, 4], Link)];
    }

    /// <summary>
    /// The relays as the client sees them, behind one link: hop 1 (and hop 2 after an EXTEND) with their layers, the
    /// CREATE and EXTEND answered for real. Reads what the client sends (discarding it, after counting DATA cells at the
    /// last hop and keeping the tag of every increment's last one, for circuit SENDMEs); writes cells to the client one
    /// at a time, each once the client has read the one before.
    /// </summary>
    private sealed class RelaySide : IDisposable
    {
        private readonly Pipe _toClient = new(new PipeOptions(pauseWriterThreshold: 1, resumeWriterThreshold: 1, useSynchronizationContext: false));
        private readonly Pipe _fromClient = new(new PipeOptions(useSynchronizationContext: false));
        private readonly CellLayout _layout;
        private readonly OnionOptions _options;
        private readonly SemaphoreSlim _write = new(1, 1);
        private readonly Queue<byte[]> _tags = new();
        private readonly List<(LayerCipher Forward, LayerCipher Backward)> _hops = [];
        private readonly Lock _gate = new();
        private long _dataCells;
        private (long Count, TaskCompletionSource Done)? _waiting;

        public RelaySide(CellLayout layout, OnionOptions options, LinkErrors errors, CancellationToken token)
        {
            _layout = layout;
            _options = options;
            // The client's ends of the pipes record what they throw: the designed close, told from other errors.
            ClientEnd = new IntroductionTargets.LinkStream(errors.Reader(_toClient.Reader), errors.Writer(_fromClient.Writer),
                ClientConnectionDouble.Create(Fixed.Relays[0], link: null), Direction.Outbound);
            Reader = Task.Run(() => ReadAsync(token));
        }

        /// <summary>The client's end of the link.</summary>
        public IStream ClientEnd { get; }

        /// <summary>Reads what the client sends until the client closes the link.</summary>
        public Task Reader { get; }

        /// <summary>Completes once the last hop received <paramref name="count"/> DATA cells.</summary>
        public Task DataReceived(long count)
        {
            lock (_gate)
            {
                if (_dataCells >= count) return Task.CompletedTask;
                var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                _waiting = (count, done);
                return done.Task;
            }
        }

        /// <summary>The tag the client expects in its next circuit SENDME, if the last hop received that many cells.</summary>
        public byte[]? NextSendmeTag()
        {
            lock (_gate) return _tags.TryDequeue(out var tag) ? tag : null;
        }

        /// <summary>Adds the backward layers of hops <paramref name="from"/>..1 to a relay cell body (the origin's first).</summary>
        public void Wrap(Span<byte> body, int from)
        {
            for (int hop = Math.Min(from, _hops.Count - 1); hop >= 0; hop--) _hops[hop].Backward.Encrypt(body);
        }

        /// <summary>Writes one cell to the client; false once the client closed the link.</summary>
        public async Task<bool> SendAsync(byte[] cell)
        {
            await _write.WaitAsync().ConfigureAwait(false);
            try
            {
                var result = await _toClient.Writer.WriteAsync(cell).ConfigureAwait(false);
                return !result.IsCompleted;
            }
            catch (Exception e) when (e is InvalidOperationException or IOException)
            {
                return false; // the client completed its reader, or reset the link (its error reaches this writer)
            }
            finally
            {
                _write.Release();
            }
        }

        /// <summary>The relays leave: the client reads the end of the link.</summary>
        public void Close() => _toClient.Writer.Complete();

        private async Task ReadAsync(CancellationToken token)
        {
            var reader = _fromClient.Reader;
            var create = new HandshakeAssembler(_layout, CellCommand.Create, 4096);
            var extend = new RelayMessageAssembler(_options.MaxRelayMessageSize);
            var tag = new byte[LayerCipher.TagSize];
            int increment = _options.FlowControl.CircuitSendmeIncrement;
            try
            {
                while (true)
                {
                    var result = await reader.ReadAtLeastAsync(_layout.CellSize, token).ConfigureAwait(false);
                    var buffer = result.Buffer;
                    while (buffer.Length >= _layout.CellSize)
                    {
                        var cell = buffer.Slice(0, _layout.CellSize).ToArray();
                        buffer = buffer.Slice(_layout.CellSize);
                        var command = (CellCommand)cell[0];
                        if (command == CellCommand.Create && _hops.Count == 0)
                        {
                            if (create.Add(cell.AsSpan(1)) is { } message) await AnswerCreateAsync(0, message, extended: false).ConfigureAwait(false);
                            continue;
                        }
                        if (command is not (CellCommand.Relay or CellCommand.RelayEarly)) continue;
                        var body = cell.AsSpan(1);
                        for (int hop = 0; hop < _hops.Count; hop++)
                        {
                            body[..LayerCipher.TagSize].CopyTo(tag);
                            if (!_hops[hop].Forward.Encrypt(body)) continue;
                            var header = CellCodec.ReadRelayHeader(body);
                            if (header.Command == RelayCommand.Extend && hop == 0 && extend.Add(header, CellCodec.RelayData(body, header)) is { } message)
                                await AnswerCreateAsync(1, P2PStack.Privacy.Onion.Pb.Extend.Parser.ParseFrom(message).Create.ToByteArray(), extended: true).ConfigureAwait(false);
                            else if (header.Command == RelayCommand.Data && hop == _hops.Count - 1)
                                CountData(tag, increment);
                            break;
                        }
                    }
                    reader.AdvanceTo(buffer.Start, buffer.End);
                    if (result.IsCompleted) break;
                }
            }
            catch (Exception e) when (e is IOException or OperationCanceledException)
            {
                // The client reset the link, or the guard fired (reported by the target).
            }
            finally
            {
                await reader.CompleteAsync().ConfigureAwait(false);
            }
        }

        private void CountData(byte[] tag, int increment)
        {
            lock (_gate)
            {
                if (++_dataCells % increment == 0) _tags.Enqueue((byte[])tag.Clone());
                if (_waiting is { } waiting && _dataCells >= waiting.Count)
                {
                    _waiting = null;
                    waiting.Done.TrySetResult();
                }
            }
        }

        // CREATE (from the client, or inside its EXTEND to the first hop): the relay's answer, its layers; CREATED back,
        // or EXTENDED from the first hop.
        private async Task AnswerCreateAsync(int hop, byte[] create, bool extended)
        {
            byte[] created = OnionHandshake.Respond(create, Fixed.Keys[hop], Fixed.Relays[hop].Bytes.Span, out var keys);
            using (keys) _hops.Add(keys.CreateLayers(client: false));
            var cell = new byte[_layout.CellSize];
            if (!extended)
            {
                for (int i = 0; i < _layout.HandshakeCells(created.Length); i++)
                {
                    Array.Clear(cell);
                    CellCodec.WriteHandshake(cell, _layout, CellCommand.Created, created, i);
                    await SendAsync(cell).ConfigureAwait(false);
                }
                return;
            }
            int capacity = _layout.RelayDataCapacity;
            int cells = _layout.RelayCells(created.Length);
            for (int i = 0; i < cells; i++)
            {
                Array.Clear(cell);
                cell[0] = (byte)CellCommand.Relay;
                var chunk = created.AsSpan(i * capacity, Math.Min(capacity, created.Length - i * capacity));
                CellCodec.WriteRelayPlaintext(cell.AsSpan(1), RelayCommand.Extended, 0, chunk, more: i < cells - 1);
                _hops[0].Backward.Encrypt(cell.AsSpan(1));
                await SendAsync(cell).ConfigureAwait(false);
            }
        }

        public void Dispose()
        {
            foreach (var (forward, backward) in _hops)
            {
                forward.Dispose();
                backward.Dispose();
            }
            _write.Dispose();
        }
    }

    /// <summary>The client's connection to its first relay: an open stream of the onion protocol is the link.</summary>
    public class ClientConnectionDouble : DispatchProxy
    {
        private PeerId? _remote;
        private IStream? _link;

        public static IConnection Create(PeerId remote, IStream? link)
        {
            var connection = DispatchProxy.Create<IConnection, ClientConnectionDouble>();
            var proxy = (ClientConnectionDouble)(object)connection;
            proxy._remote = remote;
            proxy._link = link;
            return connection;
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) => targetMethod?.Name switch
        {
            "get_RemotePeer" => _remote,
            "get_IsDirect" => true,
            "get_IsLimited" => false,
            "get_Limits" => null,
            "get_Filters" => Array.Empty<string>(),
            "OpenStreamAsync" or "OpenStreamForFirstWriteAsync" => ValueTask.FromResult(_link!),
            _ => throw new NotSupportedException($"the fuzz target's connection has no {targetMethod?.Name}"),
        };
    }

    /// <summary>The client's host, as far as a circuit build uses it: one connection to the first relay.</summary>
    public class ClientHostDouble : DispatchProxy
    {
        private PeerId? _self;
        private IConnection? _connection;

        public static IPeerHost Create(PeerId self, IStream link)
        {
            var host = DispatchProxy.Create<IPeerHost, ClientHostDouble>();
            var proxy = (ClientHostDouble)(object)host;
            proxy._self = self;
            proxy._connection = ClientConnectionDouble.Create(Fixed.Relays[0], link);
            return host;
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) => targetMethod?.Name switch
        {
            "get_PeerId" => _self,
            "GetConnections" when args is { Length: 1 } && Fixed.Relays[0].Equals(args[0]) => new[] { _connection! },
            "GetConnections" => Array.Empty<IConnection>(),
            _ => throw new NotSupportedException($"the fuzz target's host has no {targetMethod?.Name}"),
        };
    }
}
