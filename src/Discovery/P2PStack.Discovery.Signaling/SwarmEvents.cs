using System.Threading.Channels;
using P2PStack.Addressing;
using P2PStack.Identity;

namespace P2PStack.Discovery.Signaling;

/// <summary>A member of a swarm as this node knows it from its latest announcement.</summary>
public sealed record SwarmMember(PeerId Peer, DateTimeOffset Since, DateTimeOffset Until, IReadOnlyList<Multiaddr> Addresses,
    IReadOnlyList<PeerId> Hosts);

/// <summary>Something that happened in a joined swarm.</summary>
public abstract record SwarmEvent(string Swarm, PeerId Peer, DateTimeOffset At);

/// <summary>A peer became available in the swarm (first announcement seen, or back after leaving or expiring).</summary>
public sealed record PeerAvailable(string Swarm, PeerId Peer, DateTimeOffset At, SwarmMember Member) : SwarmEvent(Swarm, Peer, At);

/// <summary>A peer is gone from the swarm: it announced its departure, or its last announcement expired.</summary>
public sealed record PeerLeft(string Swarm, PeerId Peer, DateTimeOffset At, PeerLeftReason Reason) : SwarmEvent(Swarm, Peer, At);

public enum PeerLeftReason
{
    /// <summary>The peer announced that it left (leave or clean shutdown).</summary>
    Left,
    /// <summary>No announcement renewed its presence before its <c>until</c>: crashed or cut off.</summary>
    Expired,
}

/// <summary>A live feed of one swarm's events; a slow reader loses the oldest. Dispose to stop.</summary>
public sealed class SwarmWatcher : IAsyncEnumerable<SwarmEvent>, IDisposable
{
    private readonly Channel<SwarmEvent> _channel;
    private readonly Action<SwarmWatcher> _remove;
    private long _dropped;

    internal SwarmWatcher(string swarm, int capacity, Action<SwarmWatcher> remove)
    {
        Swarm = swarm;
        _remove = remove;
        _channel = Channel.CreateBounded<SwarmEvent>(new BoundedChannelOptions(capacity) { FullMode = BoundedChannelFullMode.DropOldest },
            _ => Interlocked.Increment(ref _dropped));
    }

    public string Swarm { get; }

    public ChannelReader<SwarmEvent> Reader => _channel.Reader;

    public long Dropped => Interlocked.Read(ref _dropped);

    internal void Offer(SwarmEvent e) => _channel.Writer.TryWrite(e);

    internal void Complete() => _channel.Writer.TryComplete();

    public IAsyncEnumerator<SwarmEvent> GetAsyncEnumerator(CancellationToken cancellationToken = default) =>
        _channel.Reader.ReadAllAsync(cancellationToken).GetAsyncEnumerator(cancellationToken);

    public void Dispose()
    {
        _channel.Writer.TryComplete();
        _remove(this);
    }
}
