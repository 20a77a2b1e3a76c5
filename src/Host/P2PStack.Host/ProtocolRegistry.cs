using System.Collections.Frozen;
using System.Diagnostics.CodeAnalysis;
using P2PStack.Network;

namespace P2PStack.Host;

/// <summary>
/// Which handler serves which protocol id: the handlers registered in DI plus those added at run time.
/// Reads take no lock (a frozen snapshot replaced on change). The DI handlers are resolved on first use, not when the
/// host is built, because handlers such as identify depend on the host themselves.
/// </summary>
public sealed class ProtocolRegistry
{
    private readonly Lock _gate = new();
    private Func<IEnumerable<IProtocolHandler>>? _initial;
    private FrozenDictionary<string, IProtocolHandler>? _handlers;

    public ProtocolRegistry(Func<IEnumerable<IProtocolHandler>> handlers)
    {
        _initial = handlers;
    }

    public ProtocolRegistry(IEnumerable<IProtocolHandler> handlers) : this(() => handlers)
    {
    }

    public IReadOnlyCollection<string> Protocols => Handlers.Keys;

    public bool TryGet(string protocol, [NotNullWhen(true)] out IProtocolHandler? handler) =>
        Handlers.TryGetValue(protocol, out handler);

    private FrozenDictionary<string, IProtocolHandler> Handlers
    {
        get
        {
            var handlers = Volatile.Read(ref _handlers);
            if (handlers is not null) return handlers;
            lock (_gate)
            {
                if (_handlers is null)
                {
                    var map = new Dictionary<string, IProtocolHandler>(StringComparer.Ordinal);
                    foreach (var handler in _initial!()) AddTo(map, handler);
                    _handlers = map.ToFrozenDictionary(StringComparer.Ordinal);
                    _initial = null;
                }
                return _handlers;
            }
        }
    }

    public IDisposable Add(IProtocolHandler handler)
    {
        var current = Handlers;
        lock (_gate)
        {
            var map = new Dictionary<string, IProtocolHandler>(_handlers ?? current, StringComparer.Ordinal);
            AddTo(map, handler);
            _handlers = map.ToFrozenDictionary(StringComparer.Ordinal);
        }
        return new Removal(this, handler);
    }

    private void Remove(IProtocolHandler handler)
    {
        lock (_gate)
        {
            _handlers = Handlers.Where(p => !ReferenceEquals(p.Value, handler))
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
