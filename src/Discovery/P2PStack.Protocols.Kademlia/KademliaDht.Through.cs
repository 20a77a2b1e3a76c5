using Google.Protobuf;
using P2PStack.Identity;
using P2PStack.Protocols.Kademlia.Lookup;
using P2PStack.Protocols.Kademlia.Pb;
using static P2PStack.Protocols.Kademlia.Pb.Message.Types;

namespace P2PStack.Protocols.Kademlia;

public sealed partial class KademliaDht
{
    /// <summary>
    /// <see cref="PutValueAsync"/> with every request (the FIND_NODE lookup and the PUT_VALUEs) sent through
    /// <paramref name="network"/> instead of this node's own connections, e.g. over onion circuits under ephemeral
    /// identities, so that the peers asked and the peers storing it do not learn that this node published it. The
    /// lookup starts from this node's routing table (read locally); nothing is stored locally (this node would
    /// otherwise hold, and serve, a record it is not close to) and the routing table is not changed by the outcome
    /// (a failure through <paramref name="network"/> says nothing about the peer's own reachability).
    /// </summary>
    /// <returns>How many peers stored it.</returns>
    /// <exception cref="InvalidRecordException">The record fails its namespace's validator.</exception>
    /// <exception cref="DhtNoPeersException">The routing table is empty.</exception>
    public async Task<int> PutValueThroughAsync(IKadNetwork network, ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> value,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(network);
        byte[] keyBytes = key.ToArray();
        byte[] valueBytes = value.ToArray();
        Options.Validator.Validate(keyBytes, valueBytes);
        var target = KadKey.FromKey(key.Span);
        var findNode = new Message { Type = MessageType.FindNode, Key = ByteString.CopyFrom(key.Span) };
        var lookup = await _metrics.MeasureLookupAsync(findNode.Type, () => IterativeLookup.RunAsync(target, Self, Seeds(target), async (peer, ct) =>
        {
            var response = await RequestThroughAsync(network, peer, findNode, ct).ConfigureAwait(false);
            return [.. AcceptPeers(response.CloserPeers, Options.DiscoveredAddressTtl).Select(p => p.Peer)];
        }, Parameters, null, cancellationToken)).ConfigureAwait(false);

        var record = new Record { Key = ByteString.CopyFrom(keyBytes), Value = ByteString.CopyFrom(valueBytes) };
        var put = new Message { Type = MessageType.PutValue, Key = record.Key, Record = record };
        var stored = await Task.WhenAll(lookup.ClosestPeers.Select(async peer =>
        {
            try
            {
                var response = await RequestThroughAsync(network, peer, put, cancellationToken).ConfigureAwait(false);
                if (response.Record is null || response.Record.Value != record.Value)
                    throw new KadProtocolException("PUT_VALUE answer does not echo the value");
                return true;
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                Log.RequestFailed(_logger, peer, e.Message);
                return false;
            }
        })).ConfigureAwait(false);
        return stored.Count(s => s);
    }

    /// <summary>
    /// <see cref="GetValueAsync"/> with every request sent through <paramref name="network"/> (see
    /// <see cref="PutValueThroughAsync"/>): the local store counts as one answer (reading it tells nobody anything), a
    /// GET_VALUE lookup collects valid values until the quorum or the end, and the namespace's selector picks the best.
    /// No entry correction: peers with a stale value are left as they are, and nothing is stored locally.
    /// </summary>
    /// <exception cref="DhtNotFoundException">No valid value anywhere.</exception>
    public async Task<byte[]> GetValueThroughAsync(IKadNetwork network, ReadOnlyMemory<byte> key, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(network);
        byte[] keyBytes = key.ToArray();
        var answers = new List<byte[]>();
        var local = await RequestHandler.GetFreshRecordAsync(key, cancellationToken).ConfigureAwait(false);
        if (local is not null && TryValidate(keyBytes, new Record { Key = ByteString.CopyFrom(local.Key), Value = ByteString.CopyFrom(local.Value) }, out var localValue))
            answers.Add(localValue);

        var target = KadKey.FromKey(key.Span);
        var request = new Message { Type = MessageType.GetValue, Key = ByteString.CopyFrom(key.Span) };
        await _metrics.MeasureLookupAsync(request.Type, () => IterativeLookup.RunAsync(target, Self, Seeds(target), async (peer, ct) =>
        {
            var response = await RequestThroughAsync(network, peer, request, ct).ConfigureAwait(false);
            if (response.Record is { } record && TryValidate(keyBytes, record, out var value))
                lock (answers) answers.Add(value);
            return [.. AcceptPeers(response.CloserPeers, Options.DiscoveredAddressTtl).Select(p => p.Peer)];
        }, Parameters, () => { lock (answers) return answers.Count >= Options.GetValueQuorum; }, cancellationToken)).ConfigureAwait(false);

        byte[][] collected;
        lock (answers) collected = [.. answers];
        if (collected.Length == 0) throw new DhtNotFoundException("no peer holds a valid value for the key");
        return collected[Options.Validator.Select(keyBytes, [.. collected.Select(v => (ReadOnlyMemory<byte>)v)])];
    }

    // One request through another network, with the request timeout; the routing table is left alone.
    private async Task<Message> RequestThroughAsync(IKadNetwork network, PeerId peer, Message request, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Options.RequestTimeout);
        try
        {
            var response = await network.SendAsync(peer, request, expectResponse: true, timeout.Token).ConfigureAwait(false)
                ?? throw new KadProtocolException("no response");
            if (response.Type != request.Type)
                throw new KadProtocolException($"{request.Type} request answered with {response.Type}");
            _metrics.OutboundRequest(request.Type, "ok");
            return response;
        }
        catch (Exception) when (!cancellationToken.IsCancellationRequested)
        {
            _metrics.OutboundRequest(request.Type, timeout.IsCancellationRequested ? "timeout" : "error");
            throw;
        }
    }
}
