using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;
using P2PStack.Network;

namespace P2PStack.Host;

/// <summary>
/// Which handler serves which protocol id: the handlers registered in DI plus those added at run time.
/// Reads take no lock (a frozen snapshot replaced on change).
/// </summary>
public sealed class ProtocolRegistry
{
    private readonly Lock _gate = new();
    private FrozenDictionary<string, IProtocolHandler> _handlers;

    public ProtocolRegistry(IEnumerable<IProtocolHandler> handlers)
    {
        var map = new Dictionary<string, IProtocolHandler>(StringComparer.Ordinal);
        foreach (var handler in handlers) AddTo(map, handler);
        _handlers = map.ToFrozenDictionary(StringComparer.Ordinal);
    }

    public IReadOnlyCollection<string> Protocols => _handlers.Keys;

    public bool TryGet(string protocol, [NotNullWhen(true)] out IProtocolHandler? handler) =>
        _handlers.TryGetValue(protocol, out handler);

    public IDisposable Add(IProtocolHandler handler)
    {
        lock (_gate)
        {
            var map = new Dictionary<string, IProtocolHandler>(_handlers, StringComparer.Ordinal);
            AddTo(map, handler);
            _handlers = map.ToFrozenDictionary(StringComparer.Ordinal);
        }
        return new Removal(this, handler);
    }

    private void Remove(IProtocolHandler handler)
    {
        lock (_gate)
        {
            _handlers = _handlers.Where(p => !ReferenceEquals(p.Value, handler))
                .ToFrozenDictionary(StringComparer.Ordinal);
        }
    }

    private static void AddTo(Dictionary<string, IProtocolHandler> map, IProtocolHandler handler)
    {
        foreach (var protocol in handler.Protocols)
        {
            if (!map.TryAdd(protocol, handler))
                throw new InvalidOperationException($"protocol {protocol} already has a handler ({map[protocol].GetType().Name})");
        }
    }

    private sealed class Removal(ProtocolRegistry registry, IProtocolHandler handler) : IDisposable
    {
        private int _done;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) == 0) registry.Remove(handler);
        }
    }
}
