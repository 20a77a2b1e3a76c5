using Microsoft.Extensions.DependencyInjection;
using P2PStack.Addressing;
using P2PStack.Discovery.Rendezvous;
using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Protocols.Kademlia;
using SynapticMesh.Api;
using SynapticMesh.Home;
using static SynapticMesh.Commands.DiscoverCommand;

namespace SynapticMesh.Commands;

/// <summary>
/// <c>p2p discover --method rendezvous [--namespace NS] [--rendezvous ADDRESS]...</c>: asks each rendezvous point (the
/// given ones, else the config's <c>rendezvous.points</c>) for registrations, page by page with the spec's cookie,
/// until N peers are found or every point answered. Each registration's signed peer record is verified by the
/// client; its addresses go to the peer store for the registration's TTL, so the peers can be dialed by id.
/// </summary>
public static class RendezvousDiscovery
{
    /// <summary>Most DISCOVER pages asked of one point (each holds up to the point's limit).</summary>
    public const int MaxPagesPerPoint = 100;

    public static async Task<IReadOnlyList<PeerInfo>> DiscoverAsync(IPeerHost host, IServiceProvider services, DiscoverRequest request,
        CancellationToken deadline, CancellationToken requestAborted)
    {
        var client = services.GetRequiredService<RendezvousClient>();
        string? ns = string.IsNullOrEmpty(request.Namespace) ? null : request.Namespace;
        if (ns is { Length: > RendezvousProtocol.MaxNamespaceLength })
            throw ApiException.BadRequest($"a rendezvous namespace has at most {RendezvousProtocol.MaxNamespaceLength} characters");
        // A point is asked over the network, so this node cannot be its own point here.
        var points = request.Points is { } given
            ? Parse(given, host.PeerId)
            : [.. (services.GetService<RendezvousConfig>()?.PointAddresses ?? []).Where(p => p.GetPeerId() != host.PeerId)];
        if (points.Count == 0)
            throw new ApiException(ApiException.StatusCodes.Conflict,
                "no rendezvous point: pass --rendezvous <multiaddr>/p2p/<id>, or configure one (p2p init --rendezvous, or \"rendezvous\": {\"points\": [...]} in config.json)");
        var found = new Dictionary<PeerId, PeerInfo>();
        var errors = new List<string>();
        foreach (var point in points)
        {
            if (found.Count >= request.Count) break;
            var server = point.GetPeerId()!;
            try
            {
                await host.DialAsync(point, deadline); // reuses a connection if there is one
                ReadOnlyMemory<byte> cookie = default;
                for (int page = 0; page < MaxPagesPerPoint && found.Count < request.Count; page++)
                {
                    int wanted = request.Count - found.Count;
                    var result = await client.DiscoverAsync(server, ns, wanted, cookie, deadline);
                    foreach (var registration in result.Registrations)
                    {
                        if (registration.Peer != host.PeerId && found.Count < request.Count)
                            found.TryAdd(registration.Peer, new PeerInfo(registration.Peer, registration.Addresses));
                    }
                    if (result.Registrations.Count + result.Rejected < wanted) break; // the point has no more
                    cookie = result.Cookie;
                }
            }
            catch (OperationCanceledException) when (requestAborted.IsCancellationRequested)
            {
                throw;
            }
            catch (OperationCanceledException)
            {
                errors.Add($"{point}: no answer before the timeout");
                break; // the time is up: what was found is the result
            }
            catch (Exception e) when (e is not OperationCanceledException) // this point failed; the others may answer
            {
                errors.Add($"{point}: {e.Message}");
            }
        }
        if (found.Count == 0 && errors.Count > 0)
            throw new ApiException(ApiException.StatusCodes.BadGateway, $"no rendezvous point answered: {string.Join("; ", errors)}");
        return [.. found.Values];
    }

    private static IReadOnlyList<Multiaddr> Parse(IReadOnlyList<string> given, PeerId self)
    {
        var points = new List<Multiaddr>(given.Count);
        foreach (string text in given)
        {
            Multiaddr address;
            try
            {
                address = Multiaddr.Parse(text);
            }
            catch (P2PStack.P2PFormatException e)
            {
                throw ApiException.BadRequest($"'{text}' is not a multiaddr: {e.Message}");
            }
            if (address.GetPeerId() is not { } peer) throw ApiException.BadRequest($"the rendezvous point '{text}' must end in /p2p/<peer id>");
            if (peer == self) throw ApiException.BadRequest($"the rendezvous point '{text}' is this node: ask it from another node");
            points.Add(address);
        }
        return points;
    }
}
