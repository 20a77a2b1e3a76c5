using Google.Protobuf;
using P2PStack.Encoding;
using P2PStack.Identity;
using P2PStack.Protocols.Kademlia.Lookup;
using P2PStack.Protocols.Kademlia.Pb;
using P2PStack.Protocols.Kademlia.Storage;
using static P2PStack.Protocols.Kademlia.Pb.Message.Types;

namespace P2PStack.Protocols.Kademlia;

public sealed partial class KademliaDht
{
    /// <summary>Announces that this node provides the content <paramref name="cid"/> (keyed by its multihash, as go and js do).</summary>
    public Task<int> ProvideAsync(Cid cid, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cid);
        return ProvideAsync(cid.Hash.Encoded, cancellationToken);
    }

    /// <summary>
    /// Records this node as a provider of <paramref name="key"/> locally and with ADD_PROVIDER on the k peers closest to
    /// it. Returns how many peers the announcement was sent to.
    /// </summary>
    /// <exception cref="InvalidOperationException">This node has no address to announce.</exception>
    public async Task<int> ProvideAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken)
    {
        InMemoryProviderStore.CheckKey(key.Span, Options.ProviderLimits);
        var addresses = _directory.LocalAddresses;
        if (addresses.Count == 0) throw new InvalidOperationException("this node has no address to announce as a provider");
        await _providers.AddProviderAsync(key, new ProviderRecord(Self, addresses, _time.GetUtcNow()), cancellationToken).ConfigureAwait(false);

        var closest = await GetClosestPeersAsync(key, cancellationToken).ConfigureAwait(false);
        var request = new Message { Type = MessageType.AddProvider, Key = ByteString.CopyFrom(key.Span) };
        request.ProviderPeers.Add(KadProtocol.ToWire(new PeerInfo(Self, addresses), ConnectionType.Connected));
        var sent = await Task.WhenAll(closest.Select(async peer =>
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(Options.RequestTimeout);
            try
            {
                await _network.SendAsync(peer, request, expectResponse: false, timeout.Token).ConfigureAwait(false);
                return true;
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                Log.RequestFailed(_logger, peer, e.Message);
                return false;
            }
        })).ConfigureAwait(false);
        return sent.Count(s => s);
    }

    /// <summary>Finds providers of the content <paramref name="cid"/>.</summary>
    public Task<IReadOnlyList<PeerInfo>> FindProvidersAsync(Cid cid, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cid);
        return FindProvidersAsync(cid.Hash.Encoded, cancellationToken);
    }

    /// <summary>
    /// Providers of <paramref name="key"/>: the local ones, then a GET_PROVIDERS lookup until
    /// <see cref="KademliaOptions.MaxProvidersToFind"/> are known or the lookup ends. Empty when nobody provides it.
    /// </summary>
    public Task<IReadOnlyList<PeerInfo>> FindProvidersAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken) =>
        FindProvidersAsync(key, Options.MaxProvidersToFind, cancellationToken);

    /// <summary>Like <see cref="FindProvidersAsync(ReadOnlyMemory{byte}, CancellationToken)"/>, stopping once
    /// <paramref name="maxProviders"/> are known (0: until the lookup ends).</summary>
    public async Task<IReadOnlyList<PeerInfo>> FindProvidersAsync(ReadOnlyMemory<byte> key, int maxProviders, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxProviders);
        InMemoryProviderStore.CheckKey(key.Span, Options.ProviderLimits);
        var found = new Dictionary<PeerId, PeerInfo>();
        var sync = new object();
        int limit = maxProviders;
        foreach (var local in await _providers.GetProvidersAsync(key, _time.GetUtcNow() - Options.ProviderValidity, cancellationToken).ConfigureAwait(false))
        {
            if (limit > 0 && found.Count >= limit) break;
            found[local.Provider] = new PeerInfo(local.Provider, local.Addresses);
        }
        bool Enough() { lock (sync) return limit > 0 && found.Count >= limit; }

        if (!Enough() && RoutingTable.Count > 0)
        {
            var target = KadKey.FromKey(key.Span);
            var request = new Message { Type = MessageType.GetProviders, Key = ByteString.CopyFrom(key.Span) };
            await _metrics.MeasureLookupAsync(request.Type, () => IterativeLookup.RunAsync(target, Self, Seeds(target), async (peer, ct) =>
            {
                var response = await RequestAsync(peer, request, addToTable: true, ct).ConfigureAwait(false);
                foreach (var provider in AcceptPeers(response.ProviderPeers, Options.ProviderAddressTtl))
                {
                    lock (sync)
                    {
                        if (limit > 0 && found.Count >= limit) break;
                        if (!found.TryGetValue(provider.Peer, out var existing) || existing.Addresses.Count < provider.Addresses.Count)
                            found[provider.Peer] = provider;
                    }
                }
                return [.. AcceptPeers(response.CloserPeers, Options.DiscoveredAddressTtl).Select(p => p.Peer)];
            }, Parameters, Enough, cancellationToken)).ConfigureAwait(false);
        }
        lock (sync) return [.. found.Values];
    }
}
