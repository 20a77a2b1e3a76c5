using Google.Protobuf;
using P2PStack.Identity;
using P2PStack.Protocols.Kademlia.Lookup;
using P2PStack.Protocols.Kademlia.Pb;
using static P2PStack.Protocols.Kademlia.Pb.Message.Types;

namespace P2PStack.Protocols.Kademlia;

public sealed partial class KademliaDht
{
    /// <summary>
    /// Validates and stores a record locally, then on the k peers closest to its key. Returns how many peers stored it.
    /// </summary>
    /// <exception cref="InvalidRecordException">The record fails its namespace's validator, or the local one is better.</exception>
    public async Task<int> PutValueAsync(ReadOnlyMemory<byte> key, ReadOnlyMemory<byte> value, CancellationToken cancellationToken)
    {
        byte[] keyBytes = key.ToArray();
        byte[] valueBytes = value.ToArray();
        await RequestHandler.StoreValidatedAsync(keyBytes, valueBytes, cancellationToken).ConfigureAwait(false);
        var closest = await GetClosestPeersAsync(key, cancellationToken).ConfigureAwait(false);
        var stored = await Task.WhenAll(closest.Select(peer => PutToPeerAsync(peer, keyBytes, valueBytes, cancellationToken))).ConfigureAwait(false);
        return stored.Count(s => s);
    }

    private async Task<bool> PutToPeerAsync(PeerId peer, byte[] key, byte[] value, CancellationToken cancellationToken)
    {
        var record = new Record { Key = ByteString.CopyFrom(key), Value = ByteString.CopyFrom(value) };
        var request = new Message { Type = MessageType.PutValue, Key = record.Key, Record = record };
        try
        {
            var response = await RequestAsync(peer, request, addToTable: true, cancellationToken).ConfigureAwait(false);
            if (response.Record is null || response.Record.Value != record.Value)
                throw new KadProtocolException("PUT_VALUE answer does not echo the value");
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            Log.RequestFailed(_logger, peer, e.Message);
            return false;
        }
    }

    /// <summary>
    /// Finds the best value of <paramref name="key"/>: the local one counts as one answer, then a GET_VALUE lookup
    /// collects valid values until the quorum or the end; the namespace's selector picks the best, and the closest
    /// peers that had none or a worse one (and the local store) are corrected with a PUT_VALUE.
    /// </summary>
    /// <exception cref="DhtNotFoundException">No valid value anywhere.</exception>
    public async Task<byte[]> GetValueAsync(ReadOnlyMemory<byte> key, CancellationToken cancellationToken)
    {
        byte[] keyBytes = key.ToArray();
        var answers = new List<(PeerId? Peer, byte[] Value)>();
        var sync = new object();
        var local = await RequestHandler.GetFreshRecordAsync(key, cancellationToken).ConfigureAwait(false);
        if (local is not null) answers.Add((null, local.Value));

        LookupResult? lookup = null;
        if (RoutingTable.Count > 0)
        {
            var target = KadKey.FromKey(key.Span);
            var request = new Message { Type = MessageType.GetValue, Key = ByteString.CopyFrom(key.Span) };
            lookup = await _metrics.MeasureLookupAsync(request.Type, () => IterativeLookup.RunAsync(target, Self, Seeds(target), async (peer, ct) =>
            {
                var response = await RequestAsync(peer, request, addToTable: true, ct).ConfigureAwait(false);
                if (response.Record is { } record && TryValidate(keyBytes, record, out var value))
                    lock (sync) answers.Add((peer, value));
                return [.. AcceptPeers(response.CloserPeers, Options.DiscoveredAddressTtl).Select(p => p.Peer)];
            }, Parameters, () => { lock (sync) return answers.Count >= Options.GetValueQuorum; }, cancellationToken)).ConfigureAwait(false);
        }

        (PeerId? Peer, byte[] Value)[] collected;
        lock (sync) collected = [.. answers];
        if (collected.Length == 0) throw new DhtNotFoundException("no peer holds a valid value for the key");
        var values = collected.Select(a => (ReadOnlyMemory<byte>)a.Value).ToList();
        byte[] best = collected[Options.Validator.Select(keyBytes, values)].Value;

        await CorrectStaleAsync(keyBytes, best, collected, lookup, local?.Value, cancellationToken).ConfigureAwait(false);
        return best;
    }

    private bool TryValidate(byte[] key, Record record, out byte[] value)
    {
        value = record.Value.ToByteArray();
        if (!record.Key.Span.SequenceEqual(key)) return false;
        try
        {
            Options.Validator.Validate(key, value);
            return true;
        }
        catch (InvalidRecordException)
        {
            return false;
        }
    }

    // The spec's entry correction: the closest peers without the best value get it.
    private async Task CorrectStaleAsync(byte[] key, byte[] best, (PeerId? Peer, byte[] Value)[] answers, LookupResult? lookup,
        byte[]? localValue, CancellationToken cancellationToken)
    {
        var haveBest = answers.Where(a => a.Peer is not null && a.Value.AsSpan().SequenceEqual(best)).Select(a => a.Peer!).ToHashSet();
        var stale = answers.Where(a => a.Peer is not null && !haveBest.Contains(a.Peer)).Select(a => a.Peer!)
            .Concat(lookup?.ClosestPeers.Where(p => !haveBest.Contains(p)) ?? [])
            .Distinct()
            .ToList();
        if (localValue is null || !localValue.AsSpan().SequenceEqual(best))
        {
            try { await RequestHandler.StoreValidatedAsync(key, best, cancellationToken).ConfigureAwait(false); }
            catch (Exception e) when (e is InvalidRecordException or DhtStoreLimitException or Network.ResourceLimitExceededException) { Log.RequestFailed(_logger, Self, e.Message); }
        }
        await Task.WhenAll(stale.Select(peer => PutToPeerAsync(peer, key, best, cancellationToken))).ConfigureAwait(false);
    }
}
