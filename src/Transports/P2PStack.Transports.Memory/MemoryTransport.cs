using P2PStack.Addressing;
using P2PStack.Network;

namespace P2PStack.Transports.Memory;

/// <summary>
/// In-process transport on <c>/memory/&lt;id&gt;</c> addresses (multiaddr code 777) for tests and simulations.
/// Connections are bounded pipe pairs with TCP-like semantics: backpressure, half-close, graceful close and reset.
/// Listening on <c>/memory/0</c> picks a free id.
/// </summary>
public sealed class MemoryTransport : ITransport
{
    private readonly MemoryNetwork _network;
    private readonly MemoryTransportOptions _options;
    private readonly List<ulong> _localIds = [];

    public MemoryTransport(MemoryNetwork network, MemoryTransportOptions? options = null)
    {
        _network = network ?? throw new ArgumentNullException(nameof(network));
        _options = options ?? new MemoryTransportOptions();
        _options.Validate();
    }

    public string Name => "memory";

    public MemoryNetwork Network => _network;

    public bool CanDial(Multiaddr address) => MemoryAddresses.TryParse(address, out ulong id) && id != 0;

    public bool CanListen(Multiaddr address) => MemoryAddresses.TryParse(address, out _);

    public ValueTask<IRawConnection> DialAsync(Multiaddr address, CancellationToken cancellationToken)
    {
        if (!CanDial(address)) throw new ArgumentException($"the memory transport cannot dial {address}", nameof(address));
        cancellationToken.ThrowIfCancellationRequested();
        MemoryAddresses.TryParse(address, out ulong id);
        if (!_network.TryFind(id, out MemoryConnectionListener listener))
            throw new IOException($"connection refused: nothing listens on {address}");

        var conditions = _network.ConditionsFor(LocalNodeId, id);
        var time = _network.TimeProvider;
        var link = CreateLink(conditions, time);
        Multiaddr local = MemoryAddresses.For(_network.AllocateId());
        var outbound = new MemoryConnection(link, Direction.Outbound, local, listener.ListenAddress);
        var inbound = new MemoryConnection(link, Direction.Inbound, listener.ListenAddress, local);
        if (!listener.TryEnqueue(inbound))
        {
            outbound.Abort();
            throw new IOException($"connection refused: {address} is closed or its accept backlog is full");
        }
        return ValueTask.FromResult<IRawConnection>(outbound);
    }

    // Link conditions draw from the network's seed: whether the dial is lost, whether and when the connection is reset,
    // and the seeds of both directions' jitter and loss.
    private MemoryLink CreateLink(MemoryLinkConditions conditions, TimeProvider time)
    {
        if (conditions == MemoryLinkConditions.Perfect) return new MemoryLink(_options);
        var random = new Random(_network.NextSeed());
        if (conditions.DialFailureRate > 0 && random.NextDouble() < conditions.DialFailureRate)
            throw new IOException("connection refused: the dial was lost (simulated link fault)");
        var link = new MemoryLink(_options, conditions, random.Next(), time);
        if (conditions.ResetRate > 0 && random.NextDouble() < conditions.ResetRate)
            link.ScheduleReset(conditions.ResetWindow * random.NextDouble(), time);
        return link;
    }

    // The id other transports see this one by for per-link conditions: its first listener's (0 before it listens).
    private ulong LocalNodeId
    {
        get
        {
            lock (_localIds) return _localIds.Count > 0 ? _localIds[0] : 0;
        }
    }

    public ValueTask<IListener> ListenAsync(Multiaddr address, CancellationToken cancellationToken)
    {
        if (!CanListen(address)) throw new ArgumentException($"the memory transport cannot listen on {address}", nameof(address));
        cancellationToken.ThrowIfCancellationRequested();
        MemoryAddresses.TryParse(address, out ulong requested);
        while (true)
        {
            ulong id = requested != 0 ? requested : _network.AllocateId();
            var listener = new MemoryConnectionListener(_network, id, _options.AcceptBacklog);
            if (_network.TryBind(id, listener))
            {
                lock (_localIds) _localIds.Add(id);
                listener.Closed += () =>
                {
                    lock (_localIds) _localIds.Remove(id);
                };
                return ValueTask.FromResult<IListener>(listener);
            }
            if (requested != 0) throw new IOException($"address in use: {address}");
        }
    }
}
