using P2PStack.Addressing;
using P2PStack.Identity;

namespace P2PStack.Privacy.Onion.Transport;

/// <summary>
/// Addresses of the onion transport (docs/specs/onion.md, "Addresses"):
/// <c>[/p2p/&lt;relay&gt;]*/p2p-onion/p2p/&lt;destination&gt;</c>. The relays before <c>/p2p-onion</c> are the whole path,
/// in order (like the relay of <c>/p2p-circuit</c>); with none the client chooses a path of its default length.
/// <c>/p2p-onion</c> alone is the listen address of a node that accepts circuit connections, and
/// <c>/p2p/&lt;exit&gt;/p2p-onion</c> the remote address of such a connection as its destination sees it.
/// </summary>
public static class OnionAddress
{
    /// <summary>The <c>p2p-onion</c> multiaddr protocol (private-use code 0x3f0010, no value).</summary>
    public static readonly MultiaddrProtocol Protocol =
        MultiaddrProtocols.Register(new MultiaddrProtocol(0x3f0010, "p2p-onion", 0, null));

    /// <summary><c>/p2p-onion</c>.</summary>
    public static Multiaddr Listen { get; } = Multiaddr.FromComponents([MultiaddrComponent.Create(Protocol, null)]);

    /// <summary>The address dialing <paramref name="destination"/> through relays pinned in order (none: any).</summary>
    public static Multiaddr For(PeerId destination, IEnumerable<PeerId>? pinnedRelays = null)
    {
        var components = new List<MultiaddrComponent>();
        foreach (var relay in pinnedRelays ?? [])
            components.Add(MultiaddrComponent.FromRawValue(MultiaddrProtocols.P2P, relay.Bytes.Span));
        components.Add(MultiaddrComponent.Create(Protocol, null));
        components.Add(MultiaddrComponent.FromRawValue(MultiaddrProtocols.P2P, destination.Bytes.Span));
        return Multiaddr.FromComponents(components);
    }

    /// <summary>Whether the transport part of an address (without the destination's /p2p) is a dialable onion
    /// address: /p2p components, then /p2p-onion last.</summary>
    public static bool IsDialable(Multiaddr transportAddress) =>
        TryParsePins(transportAddress, out _);

    /// <summary>The pinned relays of a transport address.</summary>
    public static bool TryParsePins(Multiaddr transportAddress, out IReadOnlyList<PeerId> pins)
    {
        pins = [];
        var components = transportAddress.Components;
        if (components.Count == 0 || components[^1].Protocol != Protocol) return false;
        if (components.Count - 1 > OnionClientOptions.MaxPathLength) return false;
        var list = new List<PeerId>();
        for (int i = 0; i < components.Count - 1; i++)
        {
            if (components[i].Protocol != MultiaddrProtocols.P2P) return false;
            try
            {
                list.Add(PeerId.FromBytes(components[i].RawValue.Span));
            }
            catch (P2PFormatException)
            {
                return false;
            }
        }
        pins = list;
        return true;
    }

    /// <summary>The remote address of an inbound circuit connection: the exit that carried it.</summary>
    public static Multiaddr InboundRemote(PeerId exit) =>
        Multiaddr.FromComponents([MultiaddrComponent.FromRawValue(MultiaddrProtocols.P2P, exit.Bytes.Span), MultiaddrComponent.Create(Protocol, null)]);
}
