using System.IO.Pipelines;
using P2PStack.Network;
using P2PStack.Testing;

namespace P2PStack.Privacy.Onion.Tests;

/// <summary>
/// A bug's double on the reading side: wraps a client's link stream and, once <see cref="Arm"/> was called, makes the
/// next read that returns data throw an <see cref="InvalidOperationException"/>, while the link stays open. Everything
/// else passes through unchanged.
/// </summary>
public sealed class FaultyReadStream(IStream inner) : IStream
{
    private readonly FaultyReader _input = new(inner.Input);

    public PipeReader Input => _input;

    public PipeWriter Output => inner.Output;

    public string Protocol => inner.Protocol;

    public IConnection Connection => inner.Connection;

    public Direction Direction => inner.Direction;

    /// <summary>Whether the fault was thrown.</summary>
    public bool Thrown => _input.Thrown;

    /// <summary>The next read that returns (a pending one included) throws, once.</summary>
    public void Arm() => _input.Armed = true;

    public void Reset() => inner.Reset();

    public ValueTask DisposeAsync() => inner.DisposeAsync();

    private sealed class FaultyReader(PipeReader inner) : DelegatingPipeReader(inner)
    {
        public volatile bool Armed;

        public bool Thrown { get; private set; }

        public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
        {
            var result = await Inner.ReadAsync(cancellationToken).ConfigureAwait(false);
            if (Armed && !result.Buffer.IsEmpty)
            {
                Armed = false;
                Thrown = true;
                Inner.AdvanceTo(result.Buffer.Start);
                throw new InvalidOperationException("injected: a bug's exception while the link is open");
            }
            return result;
        }
    }
}
