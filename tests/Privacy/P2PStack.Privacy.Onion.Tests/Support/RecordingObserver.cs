using P2PStack.Identity;
using P2PStack.Privacy.Onion.Relay;
using P2PStack.Privacy.Onion.Wire;

namespace P2PStack.Privacy.Onion.Tests;

/// <summary>A relay that logs everything it sees: neighbours, destinations, and every cell body after its own layer.</summary>
public sealed class RecordingObserver : IRelayObserver
{
    // The relays add from their own threads while a test reads: every read is a copy taken under the lock.
    private readonly Lock _gate = new();
    private readonly List<PeerId> _previous = [];
    private readonly List<PeerId> _next = [];
    private readonly List<PeerId> _destinations = [];
    private readonly List<RelayCommand> _readCommands = [];
    private readonly List<byte[]> _bodies = [];
    private readonly List<IReadOnlyList<string>> _previousLinkFilters = [];
    private readonly List<IReadOnlyList<string>> _nextLinkFilters = [];
    private int _forwardCells;
    private int _backwardCells;

    public List<PeerId> Previous => Snapshot(_previous);

    public List<PeerId> Next => Snapshot(_next);

    public List<PeerId> Destinations => Snapshot(_destinations);

    public List<RelayCommand> ReadCommands => Snapshot(_readCommands);

    public List<byte[]> Bodies => Snapshot(_bodies);

    /// <summary>The secured-connection filters of each circuit's link to its previous hop, as the circuit opened.</summary>
    public List<IReadOnlyList<string>> PreviousLinkFilters => Snapshot(_previousLinkFilters);

    /// <summary>The secured-connection filters of each extended circuit's link to its next hop.</summary>
    public List<IReadOnlyList<string>> NextLinkFilters => Snapshot(_nextLinkFilters);

    public int ForwardCells
    {
        get
        {
            lock (_gate) return _forwardCells;
        }
    }

    public int BackwardCells
    {
        get
        {
            lock (_gate) return _backwardCells;
        }
    }

    private List<T> Snapshot<T>(List<T> list)
    {
        lock (_gate) return [.. list];
    }

    public void CircuitOpened(object circuit, PeerId previous)
    {
        lock (_gate)
        {
            _previous.Add(previous);
            _previousLinkFilters.Add(((RelayCircuit)circuit).Previous.Stream.Connection.Filters);
        }
    }

    public void CircuitExtended(object circuit, PeerId next)
    {
        lock (_gate)
        {
            _next.Add(next);
            _nextLinkFilters.Add(((RelayCircuit)circuit).Next!.Stream.Connection.Filters);
        }
    }

    public void StreamOpened(object circuit, PeerId destination)
    {
        lock (_gate) _destinations.Add(destination);
    }

    public void Cell(object circuit, bool forward, RelayCommand? command, ReadOnlySpan<byte> body)
    {
        lock (_gate)
        {
            if (forward) _forwardCells++;
            else _backwardCells++;
            if (command is { } c) _readCommands.Add(c);
            _bodies.Add(body.ToArray());
        }
    }

    /// <summary>Relay cells this relay kept (meant for it), of <paramref name="command"/> or of any command.</summary>
    public int CountRead(RelayCommand? command = null)
    {
        lock (_gate) return command is { } c ? _readCommands.Count(r => r == c) : _readCommands.Count;
    }

    /// <summary>Whether any recorded cell body contains <paramref name="needle"/>.</summary>
    public bool SawBytes(ReadOnlySpan<byte> needle)
    {
        lock (_gate)
        {
            foreach (var body in _bodies)
                if (body.AsSpan().IndexOf(needle) >= 0) return true;
            return false;
        }
    }
}
