using P2PStack.Identity;

namespace P2PStack.Neural;

/// <summary>Bounded agent -> peer cache with expiry; when full, expired entries go first, then the oldest.</summary>
internal sealed class AgentCache(int capacity)
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, (PeerId Peer, DateTimeOffset Expires)> _entries = new(StringComparer.Ordinal);

    public PeerId? TryGet(string name, DateTimeOffset now)
    {
        lock (_gate)
        {
            if (!_entries.TryGetValue(name, out var entry)) return null;
            if (entry.Expires > now) return entry.Peer;
            _entries.Remove(name);
            return null;
        }
    }

    public void Set(string name, PeerId peer, DateTimeOffset expires)
    {
        lock (_gate)
        {
            if (_entries.Count >= capacity && !_entries.ContainsKey(name))
            {
                var oldest = _entries.MinBy(kv => kv.Value.Expires).Key;
                _entries.Remove(oldest);
            }
            _entries[name] = (peer, expires);
        }
    }
}
