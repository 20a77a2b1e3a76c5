using Google.Protobuf;
using P2PStack.Identity;
using P2PStack.Neural.Messages;

namespace P2PStack.Neural;

public enum DestinationKind
{
    Agent,
    Peer,
    Swarm,
}

/// <summary>Where a message goes: a named agent (anywhere in the mesh), a peer, or a swarm.</summary>
public sealed record NeuralDestination
{
    private NeuralDestination(DestinationKind kind, string? name, PeerId? peer)
    {
        Kind = kind;
        Name = name;
        Peer = peer;
    }

    public DestinationKind Kind { get; }

    /// <summary>The agent or swarm name.</summary>
    public string? Name { get; }

    public PeerId? Peer { get; }

    public static NeuralDestination Agent(string name)
    {
        NeuralProtocol.ValidateName(name, "agent");
        return new(DestinationKind.Agent, name, null);
    }

    public static NeuralDestination ToPeer(PeerId peer) => new(DestinationKind.Peer, null, peer ?? throw new ArgumentNullException(nameof(peer)));

    public static NeuralDestination Swarm(string name)
    {
        NeuralProtocol.ValidateName(name, "swarm");
        return new(DestinationKind.Swarm, name, null);
    }

    /// <summary>
    /// Parses <c>agent:NAME</c>, <c>peer:ID</c>, <c>swarm:NAME</c>, or a bare peer id (when it parses as one) or
    /// agent name.
    /// </summary>
    /// <exception cref="ArgumentException">Not a valid destination.</exception>
    public static NeuralDestination Parse(string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        if (text.StartsWith("swarm:", StringComparison.Ordinal)) return Swarm(text[6..]);
        if (text.StartsWith("agent:", StringComparison.Ordinal)) return Agent(text[6..]);
        if (text.StartsWith("peer:", StringComparison.Ordinal))
            return PeerId.TryParse(text[5..], out var explicitPeer) ? ToPeer(explicitPeer) : throw new ArgumentException($"'{text[5..]}' is not a peer id");
        if (PeerId.TryParse(text, out var peer)) return ToPeer(peer);
        return Agent(text);
    }

    /// <summary>The destination in <see cref="Parse"/> syntax: an agent name, a peer id, or swarm:NAME.</summary>
    public override string ToString() => Kind switch
    {
        DestinationKind.Agent => Name!,
        DestinationKind.Peer => Peer!.ToString(),
        _ => "swarm:" + Name,
    };

    internal Destination ToProto() => Kind switch
    {
        DestinationKind.Agent => new Destination { Agent = Name },
        DestinationKind.Peer => new Destination { Peer = ByteString.CopyFrom(Peer!.Bytes.Span) },
        _ => new Destination { Swarm = Name },
    };

    /// <exception cref="NeuralFormatException">The destination is missing or invalid.</exception>
    internal static NeuralDestination FromProto(Destination? destination)
    {
        try
        {
            return destination?.TargetCase switch
            {
                Destination.TargetOneofCase.Agent => Agent(destination.Agent),
                Destination.TargetOneofCase.Swarm => Swarm(destination.Swarm),
                Destination.TargetOneofCase.Peer => ToPeer(PeerId.FromBytes(destination.Peer.Span)),
                _ => throw new NeuralFormatException("message has no destination"),
            };
        }
        catch (Exception e) when (e is ArgumentException or P2PFormatException and not NeuralFormatException)
        {
            throw new NeuralFormatException($"message destination is invalid: {e.Message}", e);
        }
    }
}
