using System.Diagnostics;
using System.Diagnostics.Metrics;
using P2PStack.Diagnostics;
using P2PStack.Protocols.Kademlia.Lookup;
using P2PStack.Protocols.Kademlia.Storage;
using static P2PStack.Protocols.Kademlia.Pb.Message.Types;

namespace P2PStack.Protocols.Kademlia;

/// <summary>
/// The DHT's instruments on the <c>P2PStack.Kademlia</c> meter (listed in docs/metrics.md): requests sent and served
/// by type, lookups with their duration and how they ended, routing table size and stored records.
/// </summary>
internal sealed class KademliaMetrics : ModuleMetrics
{
    public const string MeterName = "P2PStack.Kademlia";

    private readonly Counter<long> _outbound;
    private readonly Counter<long> _inbound;
    private readonly Counter<long> _lookups;
    private readonly Histogram<double> _lookupDuration;

    public KademliaMetrics(IMeterFactory? factory, RoutingTable routingTable, IDhtRecordStore records)
        : base(factory, MeterName)
    {
        Meter.CreateObservableGauge("p2pstack_kad_routing_table_peers", () => routingTable.Count, "{peer}",
            "Peers in the DHT routing table.");
        Meter.CreateObservableGauge("p2pstack_kad_stored_records", () => StoredRecords(records), "{record}",
            "Value records held for other peers (reported when the record store counts without I/O, as the in-memory one does).");
        _outbound = Meter.CreateCounter<long>("p2pstack_kad_outbound_requests_total", "{request}",
            "DHT requests sent, by message type and outcome (ok, error, timeout).");
        _inbound = Meter.CreateCounter<long>("p2pstack_kad_inbound_requests_total", "{request}",
            "DHT requests served, by message type.");
        _lookups = Meter.CreateCounter<long>("p2pstack_kad_lookups_total", "{lookup}",
            "Iterative lookups, by message type and how they ended (completed, starved, stopped, failed).");
        _lookupDuration = Meter.CreateHistogram("p2pstack_kad_lookup_duration_seconds", "s",
            "Duration of iterative lookups, by message type.", null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] });
    }

    public void OutboundRequest(MessageType type, string outcome) => _outbound.Add(1,
        new KeyValuePair<string, object?>("type", TypeLabel(type)), new KeyValuePair<string, object?>("outcome", outcome));

    public void InboundRequest(MessageType type) => _inbound.Add(1, new KeyValuePair<string, object?>("type", TypeLabel(type)));

    /// <summary>Runs a lookup and records its outcome and duration.</summary>
    public async Task<LookupResult> MeasureLookupAsync(MessageType type, Func<Task<LookupResult>> lookup)
    {
        var typeLabel = new KeyValuePair<string, object?>("type", TypeLabel(type));
        long start = Stopwatch.GetTimestamp();
        string termination = "failed";
        try
        {
            var result = await lookup().ConfigureAwait(false);
            termination = result.Termination switch
            {
                LookupTermination.Completed => "completed",
                LookupTermination.Starved => "starved",
                _ => "stopped",
            };
            return result;
        }
        finally
        {
            _lookupDuration.Record(Stopwatch.GetElapsedTime(start).TotalSeconds, typeLabel);
            _lookups.Add(1, typeLabel, new KeyValuePair<string, object?>("termination", termination));
        }
    }

    // A bounded label even for enum values the wire may carry but the spec does not define.
    private static string TypeLabel(MessageType type) => type switch
    {
        MessageType.PutValue => "put_value",
        MessageType.GetValue => "get_value",
        MessageType.AddProvider => "add_provider",
        MessageType.GetProviders => "get_providers",
        MessageType.FindNode => "find_node",
        MessageType.Ping => "ping",
        _ => "unknown",
    };

    private static IEnumerable<Measurement<int>> StoredRecords(IDhtRecordStore records)
    {
        var count = records.CountAsync(CancellationToken.None);
        if (count.IsCompletedSuccessfully) yield return new Measurement<int>(count.Result);
        else _ = count.AsTask().ContinueWith(static t => _ = t.Exception, TaskScheduler.Default); // never block a scrape on I/O
    }
}
