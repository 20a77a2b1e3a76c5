using System.Threading.Channels;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Privacy.Onion.Client;

namespace P2PStack.Privacy.Onion.Transport;

/// <summary>
/// Onion circuits as a transport (docs/specs/onion.md, "The transport"). Dialing
/// <c>[/p2p/&lt;relay&gt;]*/p2p-onion/p2p/&lt;destination&gt;</c> (the relays: the exact path; none: any path of the default
/// length) takes a circuit (a clean one that fits, or a new one)
/// and opens a stream to the destination through its exit; the host then runs Noise and yamux end to end inside it.
/// A dial must carry <see cref="DialOptions.Identity"/>: a fresh ephemeral key keeps the client anonymous (what
/// <see cref="OnionClient.ConnectAsync"/> does); the node's own identity is allowed but tells the destination who
/// dials. Listening on <c>/p2p-onion</c> accepts the streams exits open to this node, as anonymous connections.
/// </summary>
public sealed class OnionTransport(OnionClient client, OnionListeners listeners) : ITransport
{
    public string Name => "onion";

    public bool IsProxy => true;

    public bool CanDial(Multiaddr address) => OnionAddress.IsDialable(address);

    public bool CanListen(Multiaddr address) => address.Equals(OnionAddress.Listen);

    public ValueTask<IRawConnection> DialAsync(Multiaddr address, CancellationToken cancellationToken) =>
        throw new NotSupportedException("an onion dial needs the destination peer and DialOptions.Identity (use OnionClient.ConnectAsync)");

    public async ValueTask<IRawConnection> DialAsync(Multiaddr address, PeerId? peer, DialOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (peer is null) throw new NotSupportedException($"an onion address must end with the destination's /p2p: {address}");
        if (options.Identity is null)
            throw new NotSupportedException("an onion dial needs DialOptions.Identity: a fresh ephemeral identity for anonymity "
                + "(OnionClient.ConnectAsync sets one), or the node's identity to be known to the destination");
        if (!OnionAddress.TryParsePins(address, out var pins)) throw new NotSupportedException($"not an onion address: {address}");
        var request = new CircuitRequest { Pinned = pins, Hops = pins.Count > 0 ? pins.Count : null, Destination = peer };
        var circuit = await client.GetCircuitAsync(request, cancellationToken)
            .ConfigureAwait(false);
        var path = OnionAddress.For(peer, circuit.Path.Select(r => r.Peer)).DecapsulateCode(MultiaddrProtocols.P2P.Code);
        var stream = await circuit.OpenStreamAsync(peer, client.Host.PeerStore.GetAddresses(peer), OnionAddress.Listen, path, cancellationToken)
            .ConfigureAwait(false);
        client.StreamOpened(stream);
        return stream;
    }

    public ValueTask<IListener> ListenAsync(Multiaddr address, CancellationToken cancellationToken)
    {
        if (!CanListen(address)) throw new ArgumentException($"the onion transport listens only on {OnionAddress.Listen}", nameof(address));
        return ValueTask.FromResult<IListener>(listeners.Open());
    }
}

/// <summary>The destination side: the listener the host accepts circuit connections from, fed by
/// <see cref="DestinationHandler"/>.</summary>
public sealed class OnionListeners
{
    private Listener? _current;

    internal IListener Open()
    {
        var listener = new Listener(this);
        if (Interlocked.CompareExchange(ref _current, listener, null) is not null)
            throw new IOException($"address in use: {OnionAddress.Listen}");
        return listener;
    }

    /// <summary>Hands an inbound connection to the listener; false when nothing listens (or its queue is full). A shadow
    /// service hands its introduced streams here too.</summary>
    public bool TryAccept(IRawConnection connection) => Volatile.Read(ref _current)?.TryEnqueue(connection) ?? false;

    private sealed class Listener(OnionListeners owner) : IListener
    {
        private readonly Channel<IRawConnection> _queue = Channel.CreateBounded<IRawConnection>(64);

        public Multiaddr ListenAddress => OnionAddress.Listen;

        public bool TryEnqueue(IRawConnection connection) => _queue.Writer.TryWrite(connection);

        public async ValueTask<IRawConnection> AcceptAsync(CancellationToken cancellationToken)
        {
            try
            {
                return await _queue.Reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (ChannelClosedException e)
            {
                throw new ObjectDisposedException($"the listener on {ListenAddress} was closed", e);
            }
        }

        public ValueTask DisposeAsync()
        {
            Interlocked.CompareExchange(ref owner._current, null, this);
            _queue.Writer.TryComplete();
            while (_queue.Reader.TryRead(out var pending)) pending.Abort();
            return ValueTask.CompletedTask;
        }
    }
}

/// <summary>
/// Serves the stream an exit opens to this node (<see cref="OnionOptions.DestinationProtocolId"/>): hands it to the
/// host as an inbound raw connection from <c>/p2p/&lt;exit&gt;/p2p-onion</c>, marked anonymous, and holds the stream
/// until that connection ends. The host then runs the usual upgrade (the client's Noise, yamux) and serves only the
/// protocols that opt in to anonymous connections.
/// </summary>
public sealed class DestinationHandler(OnionListeners listeners, Microsoft.Extensions.Options.IOptions<OnionOptions> options, OnionMetrics metrics)
    : IProtocolHandler
{
    public IReadOnlyList<string> Protocols { get; } = [options.Value.DestinationProtocolId];

    public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
    {
        if (options.Value.DestinationReadsOnMuxerLoop) stream.TryReadInline();
        var connection = new StreamRawConnection(stream, Direction.Inbound, OnionAddress.Listen,
            OnionAddress.InboundRemote(stream.Connection.RemotePeer)) { IsAnonymous = true };
        if (!listeners.TryAccept(connection))
        {
            connection.Abort();
            return;
        }
        metrics.InboundConnection();
        using var abort = cancellationToken.Register(connection.Abort);
        await connection.Completion.ConfigureAwait(false);
    }
}
