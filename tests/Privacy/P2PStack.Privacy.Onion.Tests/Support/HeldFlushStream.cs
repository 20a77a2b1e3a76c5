using System.IO.Pipelines;
using P2PStack.Network;
using P2PStack.Testing;

namespace P2PStack.Privacy.Onion.Tests;

/// <summary>
/// Wraps a link (the client's to its first relay, or a relay's inbound one): records how many cells each flush carries
/// (a flush is one write to the link) and each commit, and once armed with <see cref="HoldFirstFlushOf"/> holds the first flush of at least that many cells
/// until <see cref="Release"/>, so that a test can let the application write ahead of the circuit.
/// </summary>
public sealed class HeldFlushStream(IStream inner, int cellSize) : IStream
{
    private readonly RecordingWriter _output = new(inner.Output, cellSize);

    public PipeReader Input => inner.Input;

    public PipeWriter Output => _output;

    public string Protocol => inner.Protocol;

    public IConnection Connection => inner.Connection;

    public Direction Direction => inner.Direction;

    /// <summary>Cells per flush since the held one (the held one first); empty until it came.</summary>
    public IReadOnlyList<int> FlushesFromHeld
    {
        get { lock (_output.Flushes) return [.. _output.Flushes.Skip(_output.HeldIndex < 0 ? _output.Flushes.Count : _output.HeldIndex)]; }
    }

    /// <summary>Cells per <see cref="PipeWriter.Advance"/> (a writer's commit of cells it wrote), in order.</summary>
    public IReadOnlyList<int> Commits
    {
        get { lock (_output.Flushes) return [.. _output.Commits]; }
    }

    /// <summary>Completes when the held flush has arrived (and waits).</summary>
    public Task Holding => _output.Holding.Task;

    public void HoldFirstFlushOf(int cells) => _output.MinCellsToHold = cells;

    public void Release() => _output.Gate.TrySetResult();

    public void Reset() => inner.Reset();

    public ValueTask DisposeAsync()
    {
        Release();
        return inner.DisposeAsync();
    }

    private sealed class RecordingWriter(PipeWriter inner, int cellSize) : DelegatingPipeWriter(inner)
    {
        private long _advanced;

        public List<int> Flushes { get; } = [];

        public List<int> Commits { get; } = [];

        public int HeldIndex { get; private set; } = -1;

        public int MinCellsToHold { get; set; } = int.MaxValue;

        public TaskCompletionSource Gate { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Holding { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override void Advance(int bytes)
        {
            _advanced += bytes;
            lock (Flushes) Commits.Add(bytes / cellSize);
            base.Advance(bytes);
        }

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default)
        {
            int cells = (int)(_advanced / cellSize);
            _advanced = 0;
            bool hold;
            lock (Flushes)
            {
                hold = HeldIndex < 0 && cells >= MinCellsToHold;
                if (hold) HeldIndex = Flushes.Count;
                Flushes.Add(cells);
            }
            return hold ? HeldAsync(cancellationToken) : base.FlushAsync(cancellationToken);
        }

        private async ValueTask<FlushResult> HeldAsync(CancellationToken cancellationToken)
        {
            Holding.TrySetResult();
            await Gate.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            return await base.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
