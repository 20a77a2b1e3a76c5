using P2PStack.Identity;
using P2PStack.Protocols.GossipSub.Pb;

namespace P2PStack.Protocols.GossipSub;

/// <summary>
/// The gossipsub message cache: forwarded messages in heartbeat windows. IHAVE gossip names the ids of the newest
/// <c>gossip</c> windows; IWANT is answered from all <c>length</c> windows, a bounded number of times per peer.
/// </summary>
internal sealed class MessageCache
{
    private readonly Dictionary<MessageId, Entry> _messages = new();
    private readonly List<List<(MessageId Id, string Topic)>> _windows;
    private readonly int _gossip;

    public MessageCache(int length, int gossip)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(gossip, length);
        _gossip = gossip;
        _windows = new List<List<(MessageId, string)>>(length);
        for (int i = 0; i < length; i++) _windows.Add([]);
    }

    public int Count => _messages.Count;

    /// <summary>Adds the message to the current window; a message already cached keeps its place.</summary>
    public void Put(MessageId id, Message message)
    {
        if (!_messages.TryAdd(id, new Entry(message))) return;
        _windows[0].Add((id, message.Topic));
    }

    public bool TryGet(MessageId id, out Message message)
    {
        if (_messages.TryGetValue(id, out var entry))
        {
            message = entry.Message;
            return true;
        }
        message = null!;
        return false;
    }

    /// <summary>Gets the message for an IWANT of <paramref name="peer"/>, counting how often that peer asked for it.</summary>
    public bool TryGetForPeer(MessageId id, PeerId peer, out Message message, out int count)
    {
        if (!_messages.TryGetValue(id, out var entry))
        {
            message = null!;
            count = 0;
            return false;
        }
        entry.Transmissions ??= new Dictionary<PeerId, int>();
        count = entry.Transmissions.GetValueOrDefault(peer) + 1;
        entry.Transmissions[peer] = count;
        message = entry.Message;
        return true;
    }

    /// <summary>Ids of the topic's messages in the gossip windows, newest window first.</summary>
    public List<MessageId> GetGossipIds(string topic)
    {
        var ids = new List<MessageId>();
        for (int i = 0; i < _gossip; i++)
            foreach (var (id, messageTopic) in _windows[i])
                if (messageTopic == topic) ids.Add(id);
        return ids;
    }

    /// <summary>Starts a new window and forgets the messages of the oldest one.</summary>
    public void Shift()
    {
        var oldest = _windows[^1];
        foreach (var (id, _) in oldest) _messages.Remove(id);
        _windows.RemoveAt(_windows.Count - 1);
        oldest.Clear();
        _windows.Insert(0, oldest);
    }

    private sealed class Entry(Message message)
    {
        public Message Message { get; } = message;
        public Dictionary<PeerId, int>? Transmissions { get; set; }
    }
}

/// <summary>Message ids seen recently, each kept for a fixed time after it was first seen.</summary>
internal sealed class SeenCache(TimeSpan ttl)
{
    private readonly Dictionary<MessageId, DateTimeOffset> _expiry = new();
    private readonly Queue<(MessageId Id, DateTimeOffset Expiry)> _order = new();

    public int Count => _expiry.Count;

    public bool Contains(MessageId id, DateTimeOffset now) => _expiry.TryGetValue(id, out var expiry) && expiry > now;

    /// <summary>Records the id; false when it was already there and unexpired.</summary>
    public bool Add(MessageId id, DateTimeOffset now)
    {
        Sweep(now);
        if (_expiry.ContainsKey(id)) return false;
        var expiry = now + ttl;
        _expiry[id] = expiry;
        _order.Enqueue((id, expiry));
        return true;
    }

    /// <summary>Drops expired ids (the queue is in expiry order because the ttl is constant).</summary>
    public void Sweep(DateTimeOffset now)
    {
        while (_order.TryPeek(out var head) && head.Expiry <= now)
        {
            _order.Dequeue();
            _expiry.Remove(head.Id);
        }
    }
}
