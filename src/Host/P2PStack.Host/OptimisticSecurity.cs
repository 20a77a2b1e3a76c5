using System.IO.Pipelines;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Multistream;
using P2PStack.Network;

namespace P2PStack.Host;

/// <summary>
/// Which security protocol each recently dialed peer accepted, for the next dial to propose it optimistically: the
/// multistream header, the proposal and the handshake's first message in one write, a round trip less
/// (docs/architecture.md, "Optimistic security negotiation"). A choice is valid only for the same offered list it came
/// from, so it never replays anything a full negotiation would not choose. Keyed by the peer id of dialed addresses;
/// at most <see cref="HostOptions.OptimisticSecurityPeers"/> peers (least recently used dropped), each for
/// <see cref="HostOptions.OptimisticSecurityLifetime"/>. Thread-safe.
/// </summary>
public sealed class SecuritySuiteMemory
{
    private readonly int _capacity;
    private readonly TimeSpan _lifetime;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<PeerId, LinkedListNode<Entry>> _entries = [];
    private readonly LinkedList<Entry> _recency = [];

    private sealed record Entry(PeerId Peer, string Security, IReadOnlyList<string> Offered, DateTimeOffset Expires);

    public SecuritySuiteMemory(int capacity, TimeSpan lifetime, TimeProvider? timeProvider = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        if (lifetime < TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(lifetime), "must not be negative");
        _capacity = capacity;
        _lifetime = lifetime;
        _time = timeProvider ?? TimeProvider.System;
    }

    /// <summary>Peers remembered now (expired ones included until looked up or pushed out).</summary>
    public int Count
    {
        get
        {
            lock (_gate) return _entries.Count;
        }
    }

    /// <summary>The protocol <paramref name="peer"/> accepted when this same list was offered, or null.</summary>
    public string? Recall(PeerId peer, IReadOnlyList<string> offered)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(offered);
        lock (_gate)
        {
            if (!_entries.TryGetValue(peer, out var node)) return null;
            var entry = node.Value;
            if (entry.Expires <= _time.GetUtcNow())
            {
                Remove(node);
                return null;
            }
            if (!entry.Offered.SequenceEqual(offered, StringComparer.Ordinal)) return null;
            _recency.Remove(node);
            _recency.AddFirst(node);
            return entry.Security;
        }
    }

    /// <summary>Remembers that a full or optimistic negotiation with <paramref name="peer"/>, offering
    /// <paramref name="offered"/>, ended in <paramref name="security"/>.</summary>
    public void Remember(PeerId peer, IReadOnlyList<string> offered, string security)
    {
        ArgumentNullException.ThrowIfNull(peer);
        ArgumentNullException.ThrowIfNull(offered);
        ArgumentNullException.ThrowIfNull(security);
        if (_capacity == 0 || _lifetime == TimeSpan.Zero) return;
        var entry = new Entry(peer, security, offered, _time.GetUtcNow() + _lifetime);
        lock (_gate)
        {
            if (_entries.TryGetValue(peer, out var existing)) Remove(existing);
            while (_entries.Count >= _capacity && _recency.Last is { } oldest) Remove(oldest);
            _entries[peer] = _recency.AddFirst(entry);
        }
    }

    /// <summary>Forgets <paramref name="peer"/> (its optimistic dial failed).</summary>
    public void Forget(PeerId peer)
    {
        ArgumentNullException.ThrowIfNull(peer);
        lock (_gate)
        {
            if (_entries.TryGetValue(peer, out var node)) Remove(node);
        }
    }

    private void Remove(LinkedListNode<Entry> node)
    {
        _recency.Remove(node);
        _entries.Remove(node.Value.Peer);
    }
}

/// <summary>An optimistic security proposal failed before the listener's answer accepted it (the listener answered
/// <c>na</c>, sent something else, or dropped the connection): the dialer forgets the peer's suite and dials once more
/// with full negotiation. A failure after the acceptance is the handshake's own and is thrown as it is.</summary>
public sealed class OptimisticSecurityException(string security, Multiaddr address, Exception inner)
    : HandshakeException($"the optimistic proposal of {security} to {address} failed: {inner.Message}", inner)
{
    public string Security { get; } = security;
}

/// <summary>The raw connection as the security channel sees it after an optimistic proposal: until the listener's
/// multistream answer has been read and checked (before the first handshake bytes), reads go through the lazy pipe;
/// then, and for every write (the proposal is already in the output), the raw connection's own pipe, so the
/// encrypted data path has no extra layer.</summary>
internal sealed class OptimisticallyNegotiatedConnection(IRawConnection inner, LazySelectedPipe pipe) : DelegatingRawConnection(inner)
{
    public override PipeReader Input => pipe.IsConfirmed ? Inner.Input : pipe.Input;
}
