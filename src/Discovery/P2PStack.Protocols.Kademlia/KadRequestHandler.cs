using Google.Protobuf;
using P2PStack.Identity;
using P2PStack.Protocols.Kademlia.Pb;
using P2PStack.Protocols.Kademlia.Storage;
using static P2PStack.Protocols.Kademlia.Pb.Message.Types;

namespace P2PStack.Protocols.Kademlia;

/// <summary>
/// Answers DHT requests (the server side of every message type), independent of streams: one request in, the
/// response out (null for ADD_PROVIDER, which has none). Invalid requests throw <see cref="KadProtocolException"/>
/// or <see cref="InvalidRecordException"/>, after which the stream is reset.
/// </summary>
public sealed class KadRequestHandler(
    PeerId self,
    KademliaOptions options,
    RoutingTable table,
    IKadPeerDirectory directory,
    IDhtRecordStore records,
    IProviderStore providers,
    TimeProvider time)
{
    public async Task<Message?> HandleAsync(PeerId from, Message request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(request);
        table.MarkSeen(from);
        return request.Type switch
        {
            MessageType.FindNode => FindNode(from, request),
            MessageType.GetValue => await GetValueAsync(from, request, cancellationToken).ConfigureAwait(false),
            MessageType.PutValue => await PutValueAsync(from, request, cancellationToken).ConfigureAwait(false),
            MessageType.GetProviders => await GetProvidersAsync(from, request, cancellationToken).ConfigureAwait(false),
            MessageType.AddProvider => await AddProviderAsync(from, request, cancellationToken).ConfigureAwait(false),
            MessageType.Ping => Echo(request),
            _ => throw new KadProtocolException($"unknown DHT message type {(int)request.Type}"),
        };
    }

    private Message FindNode(PeerId from, Message request)
    {
        RequireKey(request, options.RecordLimits.MaxKeyLength);
        var response = new Message { Type = MessageType.FindNode, ClusterLevelRaw = request.ClusterLevelRaw };
        var closest = Closest(request.Key, from).ToList();
        // The spec's exception: the target itself is returned when known, even if it is us or the requester.
        if (TryPeerId(request.Key, out var target) && (closest.Count == 0 || closest[0] != target)) closest.Insert(0, target);
        AddPeers(response.CloserPeers, closest, options.MaxMessageSize);
        return response;
    }

    private async Task<Message> GetValueAsync(PeerId from, Message request, CancellationToken cancellationToken)
    {
        RequireKey(request, options.RecordLimits.MaxKeyLength);
        var response = new Message { Type = MessageType.GetValue, Key = request.Key, ClusterLevelRaw = request.ClusterLevelRaw };
        var stored = await GetFreshRecordAsync(request.Key.Memory, cancellationToken).ConfigureAwait(false);
        if (stored is not null)
        {
            response.Record = new Record
            {
                Key = ByteString.CopyFrom(stored.Key),
                Value = ByteString.CopyFrom(stored.Value),
                TimeReceived = KadProtocol.FormatTimeReceived(stored.TimeReceived),
            };
        }
        AddPeers(response.CloserPeers, Closest(request.Key, from), options.MaxMessageSize);
        return response;
    }

    /// <summary>The stored record, unless it is older than <see cref="KademliaOptions.MaxRecordAge"/> (then it is dropped).</summary>
    internal async ValueTask<DhtRecord?> GetFreshRecordAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken)
    {
        var stored = await records.GetAsync(key, cancellationToken).ConfigureAwait(false);
        if (stored is null || time.GetUtcNow() - stored.TimeReceived <= options.MaxRecordAge) return stored;
        await records.RemoveAsync(key, cancellationToken).ConfigureAwait(false);
        return null;
    }

    private async Task<Message> PutValueAsync(PeerId from, Message request, CancellationToken cancellationToken)
    {
        RequireKey(request, options.RecordLimits.MaxKeyLength);
        var record = request.Record ?? throw new KadProtocolException("PUT_VALUE without a record");
        if (record.Key != request.Key) throw new KadProtocolException("PUT_VALUE record key differs from the message key");
        await StoreValidatedAsync(record.Key.ToByteArray(), record.Value.ToByteArray(), cancellationToken, publisher: from).ConfigureAwait(false);
        return Echo(request);
    }

    /// <summary>
    /// Validates and stores a record unless the stored one is better (per the namespace's selector). A record a remote
    /// <paramref name="publisher"/> stored counts against its quota; this node's own (null) displace others when full.
    /// </summary>
    /// <exception cref="InvalidRecordException">Invalid, or worse than the stored record.</exception>
    /// <exception cref="DhtStoreLimitException">The store is full, or the publisher holds its quota.</exception>
    internal async Task StoreValidatedAsync(byte[] key, byte[] value, CancellationToken cancellationToken, PeerId? publisher = null)
    {
        options.Validator.Validate(key, value);
        var existing = await GetFreshRecordAsync(key, cancellationToken).ConfigureAwait(false);
        if (existing is not null && !existing.Value.AsSpan().SequenceEqual(value))
        {
            int best = options.Validator.Select(key, [existing.Value, value]);
            if (best == 0) throw new InvalidRecordException("the stored record is better than the one offered");
        }
        var newRecord = new DhtRecord(key, value, time.GetUtcNow(), publisher);
        InMemoryRecordStore.CheckSize(newRecord, options.RecordLimits);
        await records.PutAsync(newRecord, cancellationToken).ConfigureAwait(false);
    }

    private async Task<Message> GetProvidersAsync(PeerId from, Message request, CancellationToken cancellationToken)
    {
        RequireKey(request, options.ProviderLimits.MaxKeyLength);
        var response = new Message { Type = MessageType.GetProviders, Key = request.Key, ClusterLevelRaw = request.ClusterLevelRaw };
        AddPeers(response.CloserPeers, Closest(request.Key, from), options.MaxMessageSize);
        var found = await providers.GetProvidersAsync(request.Key.Memory, time.GetUtcNow() - options.ProviderValidity, cancellationToken)
            .ConfigureAwait(false);
        int size = response.CalculateSize();
        foreach (var provider in found)
        {
            var wire = KadProtocol.ToWire(new PeerInfo(provider.Provider, provider.Addresses), Connectedness(provider.Provider));
            size += 1 + CodedOutputStream.ComputeLengthSize(wire.CalculateSize()) + wire.CalculateSize();
            if (size > options.MaxMessageSize) break;
            response.ProviderPeers.Add(wire);
        }
        return response;
    }

    private async Task<Message?> AddProviderAsync(PeerId from, Message request, CancellationToken cancellationToken)
    {
        RequireKey(request, options.ProviderLimits.MaxKeyLength);
        foreach (var wire in request.ProviderPeers)
        {
            // Only the sender may announce itself (go and the spec); others' announcements are ignored. Its first
            // entry is the announcement: a message repeating it thousands of times costs one store write, not thousands.
            var info = KadProtocol.ToPeerInfo(wire, options.ProviderLimits.MaxAddressesPerProvider);
            if (info is null || info.Peer != from || info.Addresses.Count == 0) continue;
            await providers.AddProviderAsync(request.Key.Memory, new ProviderRecord(from, info.Addresses, time.GetUtcNow()), cancellationToken)
                .ConfigureAwait(false);
            directory.AddAddresses(from, info.Addresses, options.ProviderAddressTtl);
            return null;
        }
        throw new KadProtocolException("ADD_PROVIDER names no provider matching the sender with an address");
    }

    private static Message Echo(Message request)
    {
        var response = request.Clone();
        response.CloserPeers.Clear();
        response.ProviderPeers.Clear();
        return response;
    }

    private IEnumerable<PeerId> Closest(ByteString key, PeerId from) =>
        table.NearestPeers(KadKey.FromKey(key.Span), options.BucketSize + 2)
            .Where(p => p != self && p != from)
            .Take(options.BucketSize);

    private void AddPeers(Google.Protobuf.Collections.RepeatedField<Peer> field, IEnumerable<PeerId> peers, int budget)
    {
        int size = 0;
        foreach (var peer in peers)
        {
            var addresses = peer == self ? directory.LocalAddresses : directory.GetAddresses(peer);
            if (addresses.Count == 0) continue; // useless to the requester
            var wire = KadProtocol.ToWire(new PeerInfo(peer, [.. addresses.Take(options.MaxAddressesPerPeer)]),
                peer == self ? ConnectionType.Connected : Connectedness(peer));
            size += wire.CalculateSize() + 8;
            if (size > budget / 2) break;
            field.Add(wire);
        }
    }

    private ConnectionType Connectedness(PeerId peer) =>
        directory.IsConnected(peer) ? ConnectionType.Connected : ConnectionType.NotConnected;

    private static void RequireKey(Message request, int maxLength)
    {
        if (request.Key.IsEmpty) throw new KadProtocolException($"{request.Type} request without a key");
        if (request.Key.Length > maxLength)
            throw new KadProtocolException($"{request.Type} key is {request.Key.Length} bytes, over the limit of {maxLength}");
    }

    private static bool TryPeerId(ByteString key, out PeerId peer)
    {
        try
        {
            peer = PeerId.FromBytes(key.Span);
            return true;
        }
        catch (PeerIdException)
        {
            peer = null!;
            return false;
        }
    }
}
