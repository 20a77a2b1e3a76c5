using System.IO.Pipelines;
using P2PStack.Network;
using P2PStack.Testing;

namespace P2PStack.Privacy.Onion.Tests;

/// <summary>
/// A bug's double: wraps a relay's link stream and makes the <paramref name="failingSpan"/>-th request for output memory
/// (one per cell written) throw an <see cref="InvalidOperationException"/> once, while the link stays open. Everything
/// else passes through unchanged.
/// </summary>
public sealed class FaultyWriteStream(IStream inner, int failingSpan) : IStream
{
    private readonly FaultyWriter _output = new(inner.Output, failingSpan);

    public PipeReader Input => inner.Input;

    public PipeWriter Output => _output;

    public string Protocol => inner.Protocol;

    public IConnection Connection => inner.Connection;

    public Direction Direction => inner.Direction;

    /// <summary>Whether the fault was thrown.</summary>
    public bool Thrown => _output.Thrown;

    public void Reset() => inner.Reset();

    public ValueTask DisposeAsync() => inner.DisposeAsync();

    private sealed class FaultyWriter(PipeWriter inner, int failingSpan) : DelegatingPipeWriter(inner)
    {
        private int _spans;

        public bool Thrown { get; private set; }

        public override Memory<byte> GetMemory(int sizeHint = 0)
        {
            Count();
            return base.GetMemory(sizeHint);
        }

        public override Span<byte> GetSpan(int sizeHint = 0)
        {
            Count();
            return base.GetSpan(sizeHint);
        }

        private void Count()
        {
            if (++_spans != failingSpan) return;
            Thrown = true;
            throw new InvalidOperationException("injected: a bug's exception while the link is open");
        }
    }
}
