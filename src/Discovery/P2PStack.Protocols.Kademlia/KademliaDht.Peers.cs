using System.Security.Cryptography;
using Google.Protobuf;
using P2PStack.Addressing;
using P2PStack.Identity;
using P2PStack.Protocols.Kademlia.Lookup;
using P2PStack.Protocols.Kademlia.Pb;
using static P2PStack.Protocols.Kademlia.Pb.Message.Types;

namespace P2PStack.Protocols.Kademlia;

public sealed partial class KademliaDht
{
    /// <summary>The k peers closest to <paramref name="key"/> that answered, closest first (a FIND_NODE lookup).</summary>
    /// <exception cref="DhtNoPeersException">The routing table is empty.</exception>
    public async Task<IReadOnlyList<PeerId>> GetClosestPeersAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken)
    {
        var result = await FindNodeLookupAsync(key, null, cancellationToken).ConfigureAwait(false);
        return result.ClosestPeers;
    }

    /// <summary>Finds the addresses of <paramref name="peer"/>: locally when connected, else by a FIND_NODE lookup.</summary>
    /// <exception cref="DhtNotFoundException">No peer knew it.</exception>
    public async Task<PeerInfo> FindPeerAsync(PeerId peer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(peer);
        if (peer == Self) return new PeerInfo(Self, _directory.LocalAddresses);
        var known = _directory.GetAddresses(peer);
        if (_directory.IsConnected(peer) && known.Count > 0) return new PeerInfo(peer, known);

        var found = new List<Multiaddr>();
        var lockObject = new object();
        await FindNodeLookupAsync(peer.Bytes, heard =>
        {
            foreach (var info in heard)
            {
                if (info.Peer != peer) continue;
                lock (lockObject) found.AddRange(info.Addresses.Where(a => !found.Contains(a)));
            }
        }, cancellationToken, () => { lock (lockObject) return found.Count > 0; }).ConfigureAwait(false);

        lock (lockObject)
        {
            if (found.Count > 0) return new PeerInfo(peer, [.. found]);
        }
        throw new DhtNotFoundException($"no peer on the DHT knows the addresses of {peer}");
    }

    /// <summary>
    /// Peers that say they are connected to <paramref name="peer"/>: a FIND_NODE lookup of its key, keeping each peer
    /// whose answer lists <paramref name="peer"/> as CONNECTED (go's FindPeersConnectedToPeer). Ourselves first when we
    /// are connected to it. Empty when nobody is.
    /// </summary>
    /// <exception cref="DhtNoPeersException">The routing table is empty.</exception>
    public async Task<IReadOnlyList<PeerInfo>> FindPeersConnectedToPeerAsync(PeerId peer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(peer);
        var found = new List<PeerInfo>();
        if (_directory.IsConnected(peer)) found.Add(new PeerInfo(Self, _directory.LocalAddresses));
        var target = KadKey.FromKey(peer.Bytes.Span);
        var request = new Message { Type = MessageType.FindNode, Key = ByteString.CopyFrom(peer.Bytes.Span) };
        await _metrics.MeasureLookupAsync(request.Type, () => IterativeLookup.RunAsync(target, Self, Seeds(target), async (remote, ct) =>
        {
            var response = await RequestAsync(remote, request, addToTable: true, ct).ConfigureAwait(false);
            bool connected = response.CloserPeers.Take(Options.MaxCloserPeersPerResponse)
                .Any(p => p.Connection == ConnectionType.Connected && p.Id.Span.SequenceEqual(peer.Bytes.Span));
            if (connected)
                lock (found) found.Add(new PeerInfo(remote, _directory.GetAddresses(remote)));
            return [.. AcceptPeers(response.CloserPeers, Options.DiscoveredAddressTtl).Select(h => h.Peer)];
        }, Parameters, null, cancellationToken)).ConfigureAwait(false);
        lock (found) return [.. found];
    }

    /// <summary>
    /// Joins the network: asks each configured bootstrap peer for our neighbours, looks ourselves up, then refreshes
    /// the buckets. Returns the routing table size.
    /// </summary>
    /// <exception cref="DhtNoPeersException">No bootstrap peer answered and the table is still empty.</exception>
    public async Task<int> BootstrapAsync(CancellationToken cancellationToken)
    {
        var bootstrap = new List<PeerId>();
        foreach (var address in Options.BootstrapPeers)
        {
            var hash = address.PeerIdMultihash;
            if (hash is null) throw new InvalidOperationException($"bootstrap address {address} has no /p2p peer id");
            var peer = PeerId.FromBytes(hash.Encoded.Span);
            if (peer == Self) continue;
            _directory.AddAddresses(peer, [address.DecapsulateCode(MultiaddrProtocols.P2P.Code)], TimeSpan.FromDays(3650));
            bootstrap.Add(peer);
        }

        var selfKey = ByteString.CopyFrom(Self.Bytes.Span);
        var answers = await Task.WhenAll(bootstrap.Select(async peer =>
        {
            try
            {
                var response = await RequestAsync(peer, new Message { Type = MessageType.FindNode, Key = selfKey }, addToTable: true,
                    cancellationToken).ConfigureAwait(false);
                AcceptPeers(response.CloserPeers, Options.DiscoveredAddressTtl);
                return true;
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                Log.RequestFailed(_logger, peer, e.Message);
                return false;
            }
        })).ConfigureAwait(false);

        if (RoutingTable.Count == 0)
            throw new DhtNoPeersException(bootstrap.Count == 0 ? "no bootstrap peers configured and the routing table is empty" : "no bootstrap peer answered");
        await RefreshAsync(cancellationToken).ConfigureAwait(false);
        Log.Bootstrapped(_logger, answers.Count(a => a), bootstrap.Count, RoutingTable.Count);
        return RoutingTable.Count;
    }

    /// <summary>
    /// Refreshes the routing table: a lookup of our own id (finds our neighbours and makes us known to them), then a
    /// lookup of a random id in each unfolded bucket's range (up to <see cref="KademliaOptions.MaxRefreshCpl"/>).
    /// </summary>
    public async Task RefreshAsync(CancellationToken cancellationToken)
    {
        if (RoutingTable.Count == 0) return;
        await RefreshLookupAsync(Self, cancellationToken).ConfigureAwait(false);
        int buckets = Math.Min(RoutingTable.BucketCount, Options.MaxRefreshCpl + 1);
        for (int cpl = 0; cpl < buckets; cpl++)
            await RefreshLookupAsync(RandomPeerIdWithCommonPrefix(RoutingTable.LocalKey, cpl), cancellationToken).ConfigureAwait(false);
    }

    private async Task RefreshLookupAsync(PeerId target, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Options.RefreshQueryTimeout);
        try
        {
            await FindNodeLookupAsync(target.Bytes, null, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // The refresh query timed out; what it found is already in the table.
        }
        catch (DhtNoPeersException)
        {
        }
    }

    /// <summary>
    /// A random sha2-256 peer id whose keyspace point shares exactly <paramref name="cpl"/> leading bits with
    /// <paramref name="local"/> (found by trying: about 2^(cpl+1) hashes).
    /// </summary>
    internal static PeerId RandomPeerIdWithCommonPrefix(KadKey local, int cpl)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(cpl, 24);
        Span<byte> id = stackalloc byte[34];
        id[0] = 0x12;
        id[1] = 0x20;
        Span<byte> digest = stackalloc byte[32];
        while (true)
        {
            RandomNumberGenerator.Fill(id[2..]);
            SHA256.HashData(id, digest);
            if (KadKey.FromHash(digest).CommonPrefixLength(local) == cpl) return PeerId.FromBytes(id);
        }
    }

    private Task<LookupResult> FindNodeLookupAsync(ReadOnlyMemory<byte> key, Action<IReadOnlyList<PeerInfo>>? onPeers,
        CancellationToken cancellationToken, Func<bool>? shouldStop = null)
    {
        var target = KadKey.FromKey(key.Span);
        var request = new Message { Type = MessageType.FindNode, Key = ByteString.CopyFrom(key.Span) };
        return _metrics.MeasureLookupAsync(request.Type, () => IterativeLookup.RunAsync(target, Self, Seeds(target), async (peer, ct) =>
        {
            var response = await RequestAsync(peer, request, addToTable: true, ct).ConfigureAwait(false);
            var heard = AcceptPeers(response.CloserPeers, Options.DiscoveredAddressTtl);
            onPeers?.Invoke(heard);
            return [.. heard.Select(h => h.Peer)];
        }, Parameters, shouldStop, cancellationToken));
    }
}
