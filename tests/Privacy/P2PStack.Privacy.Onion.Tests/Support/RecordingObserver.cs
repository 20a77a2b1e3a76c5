using P2PStack.Identity;
using P2PStack.Privacy.Onion.Relay;
using P2PStack.Privacy.Onion.Wire;

namespace P2PStack.Privacy.Onion.Tests;

/// <summary>A relay that logs everything it sees: neighbours, destinations, and every cell body after its own layer.</summary>
public sealed class RecordingObserver : IRelayObserver
{
    private readonly Lock _gate = new();

    public List<PeerId> Previous { get; } = [];

    public List<PeerId> Next { get; } = [];

    public List<PeerId> Destinations { get; } = [];

    public List<RelayCommand> ReadCommands { get; } = [];

    public List<byte[]> Bodies { get; } = [];

    /// <summary>The secured-connection filters of each circuit's link to its previous hop, as the circuit opened.</summary>
    public List<IReadOnlyList<string>> PreviousLinkFilters { get; } = [];

    /// <summary>The secured-connection filters of each extended circuit's link to its next hop.</summary>
    public List<IReadOnlyList<string>> NextLinkFilters { get; } = [];

    public int ForwardCells { get; private set; }

    public int BackwardCells { get; private set; }

    public void CircuitOpened(object circuit, PeerId previous)
    {
        lock (_gate)
        {
            Previous.Add(previous);
            PreviousLinkFilters.Add(((RelayCircuit)circuit).Previous.Stream.Connection.Filters);
        }
    }

    public void CircuitExtended(object circuit, PeerId next)
    {
        lock (_gate)
        {
            Next.Add(next);
            NextLinkFilters.Add(((RelayCircuit)circuit).Next!.Stream.Connection.Filters);
        }
    }

    public void StreamOpened(object circuit, PeerId destination)
    {
        lock (_gate) Destinations.Add(destination);
    }

    public void Cell(object circuit, bool forward, RelayCommand? command, ReadOnlySpan<byte> body)
    {
        lock (_gate)
        {
            if (forward) ForwardCells++;
            else BackwardCells++;
            if (command is { } c) ReadCommands.Add(c);
            Bodies.Add(body.ToArray());
        }
    }

    /// <summary>Relay cells this relay kept (meant for it), of <paramref name="command"/> or of any command.</summary>
    public int CountRead(RelayCommand? command = null)
    {
        lock (_gate) return command is { } c ? ReadCommands.Count(r => r == c) : ReadCommands.Count;
    }

    /// <summary>Whether any recorded cell body contains <paramref name="needle"/>.</summary>
    public bool SawBytes(ReadOnlySpan<byte> needle)
    {
        lock (_gate)
        {
            foreach (var body in Bodies)
                if (body.AsSpan().IndexOf(needle) >= 0) return true;
            return false;
        }
    }
}
