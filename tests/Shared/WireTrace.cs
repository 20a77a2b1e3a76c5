using System.Buffers;
using System.Buffers.Binary;
using System.IO.Pipelines;
using P2PStack.Network;

namespace P2PStack.Testing;

/// <summary>
/// (Test support linked into the host and interop tests, with DelegatingPipeReader.cs and DelegatingPipeWriter.cs.) A connection protector that changes nothing and records, per raw connection, the order of this side's writes (one
/// per flush, with their bytes) and of its reads that returned data: the flights on the wire as this side sees them.
/// </summary>
internal sealed class WireTraceProtector : IConnectionProtector
{
    private readonly List<ConnectionTrace> _connections = [];

    public IReadOnlyList<ConnectionTrace> Connections
    {
        get
        {
            lock (_connections) return [.. _connections];
        }
    }

    public ValueTask<IRawConnection> ProtectAsync(IRawConnection connection, CancellationToken cancellationToken)
    {
        var trace = new ConnectionTrace();
        lock (_connections) _connections.Add(trace);
        return ValueTask.FromResult<IRawConnection>(new TracedConnection(connection, trace));
    }

    private sealed class TracedConnection(IRawConnection inner, ConnectionTrace trace) : DelegatingRawConnection(inner)
    {
        public override PipeReader Input { get; } = new TracedReader(inner.Input, trace);

        public override PipeWriter Output { get; } = new TracedWriter(inner.Output, trace);
    }

    private sealed class TracedWriter(PipeWriter inner, ConnectionTrace trace) : DelegatingPipeWriter(inner)
    {
        private readonly ArrayBufferWriter<byte> _pending = new();
        private Memory<byte> _last;

        public override void Advance(int bytes)
        {
            _pending.Write(_last.Span[..bytes]);
            Inner.Advance(bytes);
        }

        public override Memory<byte> GetMemory(int sizeHint = 0) => _last = Inner.GetMemory(sizeHint);

        public override Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            if (_pending.WrittenCount > 0)
            {
                trace.Add(sent: true, _pending.WrittenSpan.ToArray());
                _pending.Clear();
            }
            return Inner.FlushAsync(cancellationToken);
        }
    }

    private sealed class TracedReader(PipeReader inner, ConnectionTrace trace) : DelegatingPipeReader(inner)
    {
        public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            var result = await Inner.ReadAsync(cancellationToken);
            if (!result.Buffer.IsEmpty) trace.Add(sent: false, []);
            return result;
        }
    }
}

/// <summary>One raw connection's events in order: writes with their bytes, reads (that returned data) without.</summary>
internal sealed class ConnectionTrace
{
    private readonly List<(bool Sent, byte[] Bytes)> _events = [];

    public IReadOnlyList<(bool Sent, byte[] Bytes)> Events
    {
        get
        {
            lock (_events) return [.. _events];
        }
    }

    internal void Add(bool sent, byte[] bytes)
    {
        lock (_events) _events.Add((sent, bytes));
    }

    /// <summary>The writes, one per flush.</summary>
    public IReadOnlyList<byte[]> Writes => [.. Events.Where(e => e.Sent).Select(e => e.Bytes)];

    /// <summary>
    /// For the dialer's side: the multistream proposals it sent (header excluded) before its Noise handshake, and the
    /// round trips it waited for before it could send Noise message 3 (the last handshake message): the flights of
    /// reads that precede the write carrying message 3's last byte. The TCP handshake is not seen here.
    /// </summary>
    public (IReadOnlyList<string> Proposals, int RoundTrips) DialerHandshake()
    {
        var events = Events;
        byte[] sent = [.. events.Where(e => e.Sent).SelectMany(e => e.Bytes)];
        var proposals = new List<string>();
        int position = 0;
        while (true)
        {
            // Multistream messages: a varint length (all ours are < 128), then text ending in a newline.
            int length = sent[position];
            if (length is 0 or >= 128 || position + 1 + length > sent.Length || sent[position + 1] != (byte)'/'
                || sent[position + length] != (byte)'\n') break;
            string token = System.Text.Encoding.UTF8.GetString(sent, position + 1, length - 1);
            if (token != "/multistream/1.0.0") proposals.Add(token);
            position += 1 + length;
        }
        // Noise message 1 then message 3, each behind a 16-bit big-endian length.
        for (int message = 0; message < 2; message++)
            position += 2 + BinaryPrimitives.ReadUInt16BigEndian(sent.AsSpan(position));
        int written = 0, readFlights = 0;
        bool lastWasRead = false;
        foreach (var (isSent, bytes) in events)
        {
            if (!isSent)
            {
                if (!lastWasRead) readFlights++;
                lastWasRead = true;
                continue;
            }
            lastWasRead = false;
            written += bytes.Length;
            if (written >= position) return (proposals, readFlights);
        }
        throw new InvalidOperationException($"the trace holds {written} bytes sent, the handshake ends at {position}");
    }
}
