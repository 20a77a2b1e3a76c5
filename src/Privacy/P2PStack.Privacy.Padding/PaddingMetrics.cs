using System.Diagnostics.Metrics;
using P2PStack.Diagnostics;

namespace P2PStack.Privacy.Padding;

/// <summary>Instruments of the padding filter on the meter <c>P2PStack.Padding</c>; also readable in process (tests,
/// status output).</summary>
public sealed class PaddingMetrics : ModuleMetrics
{
    public const string MeterName = "P2PStack.Padding";

    private readonly Counter<long> _cellsSent;
    private readonly Counter<long> _bytesSent;
    private readonly Counter<long> _cellsReceived;
    private readonly Counter<long> _malformed;
    private readonly Counter<long> _negotiationFailures;
    private readonly Counter<long> _fallbacks;
    private readonly Counter<long> _refused;
    private long _refusedCount;
    private long _dataCells;
    private long _coverCells;
    private long _payloadBytes;
    private long _paddingBytes;
    private long _malformedCount;
    private long _negotiationFailureCount;
    private long _fallbackCount;

    public PaddingMetrics(IMeterFactory? factory) : base(factory, MeterName)
    {
        _cellsSent = Meter.CreateCounter<long>("p2pstack_padding_cells_sent_total", "{cell}", "Cells sent, by kind (data, cover)");
        _bytesSent = Meter.CreateCounter<long>("p2pstack_padding_bytes_sent_total", "By",
            "Cell bytes sent, by part (payload, padding: headers, fill and cover cells)");
        _cellsReceived = Meter.CreateCounter<long>("p2pstack_padding_cells_received_total", "{cell}", "Cells received, by kind (data, empty)");
        _malformed = Meter.CreateCounter<long>("p2pstack_padding_malformed_frames_total", "{frame}",
            "Malformed hellos or cells received; each ends its connection");
        _negotiationFailures = Meter.CreateCounter<long>("p2pstack_padding_negotiation_failures_total", "{connection}",
            "Connections whose padding negotiation failed (no common cell size, no hello in time)");
        _fallbacks = Meter.CreateCounter<long>("p2pstack_padding_fallbacks_total", "{connection}",
            "Dials that connected without padding because the remote does not run it and padding was not required");
        _refused = Meter.CreateCounter<long>("p2pstack_padding_refused_total", "{connection}",
            "Connections refused because the remote does not run padding and the policy requires it, by direction");
    }

    /// <summary>Connections refused because the remote would not pad and padding was required.</summary>
    public long Refusals => Interlocked.Read(ref _refusedCount);

    internal void Refused(P2PStack.Network.Direction direction)
    {
        Interlocked.Increment(ref _refusedCount);
        _refused.Add(1, new KeyValuePair<string, object?>("direction", direction == P2PStack.Network.Direction.Inbound ? "inbound" : "outbound"));
    }

    public long DataCellsSent => Interlocked.Read(ref _dataCells);

    public long CoverCellsSent => Interlocked.Read(ref _coverCells);

    public long PayloadBytesSent => Interlocked.Read(ref _payloadBytes);

    public long PaddingBytesSent => Interlocked.Read(ref _paddingBytes);

    public long MalformedFrames => Interlocked.Read(ref _malformedCount);

    public long NegotiationFailures => Interlocked.Read(ref _negotiationFailureCount);

    public long Fallbacks => Interlocked.Read(ref _fallbackCount);

    internal void DataCellSent(int cellSize, int payload)
    {
        Interlocked.Increment(ref _dataCells);
        Interlocked.Add(ref _payloadBytes, payload);
        Interlocked.Add(ref _paddingBytes, cellSize - payload);
        _cellsSent.Add(1, new KeyValuePair<string, object?>("kind", "data"));
        _bytesSent.Add(payload, new KeyValuePair<string, object?>("part", "payload"));
        _bytesSent.Add(cellSize - payload, new KeyValuePair<string, object?>("part", "padding"));
    }

    internal void CoverCellSent(int cellSize)
    {
        Interlocked.Increment(ref _coverCells);
        Interlocked.Add(ref _paddingBytes, cellSize);
        _cellsSent.Add(1, new KeyValuePair<string, object?>("kind", "cover"));
        _bytesSent.Add(cellSize, new KeyValuePair<string, object?>("part", "padding"));
    }

    internal void CellReceived(bool empty) =>
        _cellsReceived.Add(1, new KeyValuePair<string, object?>("kind", empty ? "empty" : "data"));

    internal void Malformed()
    {
        Interlocked.Increment(ref _malformedCount);
        _malformed.Add(1);
    }

    internal void NegotiationFailed()
    {
        Interlocked.Increment(ref _negotiationFailureCount);
        _negotiationFailures.Add(1);
    }

    internal void FellBack()
    {
        Interlocked.Increment(ref _fallbackCount);
        _fallbacks.Add(1);
    }
}
