using System.Buffers;
using P2PStack.Privacy.Onion.Crypto;
using P2PStack.Privacy.Onion.Wire;

namespace P2PStack.Privacy.Onion.Relay;

/// <summary>
/// The per-cell work of the loops, synchronous and over spans: the cells of a read are taken a segment of the read
/// buffer at a time (a cell that the buffer's segments split is copied out first), a run of relayed cells goes into
/// the outgoing link with one <see cref="CellLink.Begin(int)"/> and one <see cref="CellLink.Commit(int)"/>, and DATA
/// for this hop as the last one is delivered without leaving the run. The loops (<c>RelayCircuit.cs</c>) await only
/// between runs: a lock, a flush, or the handling of a cell for this hop that is not DATA.
/// </summary>
internal sealed partial class RelayCircuit
{
    /// <summary>Why a run of cells stopped before the read's cells (or the link's room before a flush) ran out.</summary>
    private enum RunStop
    {
        None,

        /// <summary>A cell for this hop, not DATA (or not at the last hop), is in the loop's cell buffer.</summary>
        Local,

        /// <summary>DESTROY from the neighbour: <see cref="CellRun.Destroyed"/>.</summary>
        Destroy,
    }

    /// <summary>The cells of one read of a link, taken in order by the runs.</summary>
    private struct CellRun(ReadOnlySequence<byte> buffer, int cellSize, int maxBatch)
    {
        /// <summary>What the runs did not take yet.</summary>
        public ReadOnlySequence<byte> Buffer = buffer;

        /// <summary>Whole cells still to take in this read (at most the batch).</summary>
        public int Left = (int)Math.Min(buffer.Length / cellSize, maxBatch);

        public int Processed;

        /// <summary>Cells written to the outgoing link (the relayed-cells metric, once per read).</summary>
        public int Relayed;

        public DestroyReason? Destroyed;

        /// <summary>With <see cref="RunStop.Local"/>: the cell came as RELAY_EARLY.</summary>
        public bool LocalEarly;

        private readonly int _cellSize = cellSize;

        /// <summary>The next cells as one span: the whole cells of the buffer's first segment, or the one cell the
        /// segments split, copied into <paramref name="split"/>.</summary>
        public readonly ReadOnlySpan<byte> Next(byte[] split)
        {
            var first = Buffer.FirstSpan;
            int whole = Math.Min(first.Length / _cellSize, Left);
            if (whole > 0) return first[..(whole * _cellSize)];
            Buffer.Slice(0, _cellSize).CopyTo(split);
            return split;
        }

        /// <summary>The first <paramref name="cells"/> cells were handled.</summary>
        public void Take(int cells)
        {
            if (cells == 0) return;
            Buffer = Buffer.Slice((long)cells * _cellSize);
            Left -= cells;
            Processed += cells;
        }
    }

    /// <summary>Moves cells from the run into <paramref name="to"/> with this hop's <paramref name="layer"/> applied
    /// there, until the run ends, a flush is due, DESTROY, or (<paramref name="forward"/> only) a cell this hop
    /// recognises, which is copied into <paramref name="local"/> and left uncommitted in the link.</summary>
    private RunStop RelayCells(ref CellRun run, CellLink to, LayerCipher layer, bool forward, byte[] split, byte[] local)
    {
        int cellSize = _layout.CellSize;
        var observer = _relay.Observer;
        while (run.Left > 0 && !to.FlushDue)
        {
            var source = run.Next(split);
            var target = to.Begin(Math.Min(source.Length / cellSize, to.CellsBeforeFlush));
            int count = target.Length / cellSize;
            int taken = 0;
            int written = 0;
            var stop = RunStop.None;
            while (taken < count)
            {
                var cell = source.Slice(taken * cellSize, cellSize);
                taken++;
                var command = (CellCommand)cell[0];
                if (command == CellCommand.Padding)
                {
                    _relay.Metrics.CoverDropped();
                    continue;
                }
                if (command == CellCommand.Destroy)
                {
                    run.Destroyed = (DestroyReason)cell[1];
                    stop = RunStop.Destroy;
                    break;
                }
                if (command != CellCommand.Relay && RefusedRelayCell(command, forward) is { } refused)
                {
                    // The cells before it still go out, as they would have one at a time.
                    to.Commit(written);
                    run.Relayed += written;
                    run.Take(taken);
                    throw refused;
                }
                var body = target.Slice(written * cellSize, cellSize);
                cell.CopyTo(body);
                if (layer.Encrypt(body[1..]) && forward)
                {
                    body.CopyTo(local);
                    run.LocalEarly = command == CellCommand.RelayEarly;
                    stop = RunStop.Local;
                    break;
                }
                observer?.Cell(this, forward, null, body[1..]);
                written++;
            }
            to.Commit(written);
            run.Relayed += written;
            run.Take(taken);
            if (stop != RunStop.None) return stop;
        }
        return RunStop.None;
    }

    /// <summary>At the last hop: peels this hop's layer off each cell into <paramref name="cell"/> and delivers DATA to
    /// its stream, until the run ends, DESTROY, a cell for this hop that is not DATA (left in <paramref name="cell"/>),
    /// or the circuit was extended meanwhile (the loop then relays the rest).</summary>
    private RunStop DeliverCells(ref CellRun run, byte[] split, byte[] cell)
    {
        int cellSize = _layout.CellSize;
        var layer = _forward!;
        var observer = _relay.Observer;
        while (run.Left > 0)
        {
            var source = run.Next(split);
            int count = source.Length / cellSize;
            int taken = 0;
            var stop = RunStop.None;
            while (taken < count)
            {
                if (Volatile.Read(ref _next) is not null)
                {
                    run.Take(taken);
                    return RunStop.None;
                }
                var arrived = source.Slice(taken * cellSize, cellSize);
                taken++;
                var command = (CellCommand)arrived[0];
                if (command == CellCommand.Padding)
                {
                    _relay.Metrics.CoverDropped();
                    continue;
                }
                if (command == CellCommand.Destroy)
                {
                    run.Destroyed = (DestroyReason)arrived[1];
                    stop = RunStop.Destroy;
                    break;
                }
                if (command != CellCommand.Relay && RefusedRelayCell(command, forward: true) is { } refused)
                {
                    run.Take(taken);
                    throw refused;
                }
                // The tag as it arrived: a circuit SENDME for the increment this cell completes carries it (OnData).
                arrived.Slice(1, LayerCipher.TagSize).CopyTo(_lastTagIn);
                arrived.CopyTo(cell);
                if (!layer.Encrypt(cell.AsSpan(1)))
                {
                    run.Take(taken);
                    throw new CircuitEndedException(DestroyReason.Integrity, Side.None, "a relay cell meant for no hop");
                }
                var header = CellCodec.ReadRelayHeader(cell.AsSpan(1));
                if (header.Command != RelayCommand.Data)
                {
                    run.LocalEarly = command == CellCommand.RelayEarly;
                    stop = RunStop.Local;
                    break;
                }
                observer?.Cell(this, true, header.Command, cell.AsSpan(1));
                if (header.More || _assembler.InProgress)
                {
                    run.Take(taken);
                    throw new OnionFormatException("DATA cannot span cells");
                }
                OnData(header.StreamId, cell.AsSpan(1 + LayerCipher.TagSize + CellLayout.RelayHeaderSize, header.Length));
            }
            run.Take(taken);
            if (stop != RunStop.None) return stop;
        }
        return RunStop.None;
    }

    /// <summary>Why a cell of <paramref name="command"/>, not RELAY, may not travel this way on an open circuit, or null:
    /// RELAY_EARLY only towards the exit and only up to the option. (Out of line: RELAY, nearly every cell, is tested
    /// at the call.)</summary>
    private OnionFormatException? RefusedRelayCell(CellCommand command, bool forward)
    {
        if (!forward) return new OnionFormatException($"{command} cell from the next hop");
        if (command != CellCommand.RelayEarly) return new OnionFormatException($"{command} cell on an open circuit");
        if (++_relayEarly > Options.Relay.MaxRelayEarlyCells)
            return new OnionFormatException($"more than {Options.Relay.MaxRelayEarlyCells} RELAY_EARLY cells");
        return null;
    }
}
