using System.IO.Pipelines;
using P2PStack.Network;

namespace P2PStack.Nat.Relay.Tests;

/// <summary>Our side holds a relayed connection to the data limit its relay announced (the relay may not).</summary>
public sealed class LimitedRelayStreamTests
{
    private static readonly CancellationToken Ct = CancellationToken.None;

    [Fact]
    public async Task ReceivingUpToTheAnnouncedDataIsFine()
    {
        var (stream, inner, reasons) = Limited(100);
        await inner.Remote.WriteAsync(new byte[100], Ct);
        var result = await stream.Input.ReadAsync(Ct);
        Assert.Equal(100, result.Buffer.Length);
        stream.Input.AdvanceTo(result.Buffer.End);
        Assert.Empty(reasons);
        Assert.False(inner.WasReset);
    }

    [Fact]
    public async Task ReceivingMoreThanTheAnnouncedDataResetsTheStreamWithATypedErrorOnce()
    {
        var (stream, inner, reasons) = Limited(100);
        await inner.Remote.WriteAsync(new byte[60], Ct);
        var first = await stream.Input.ReadAsync(Ct);
        stream.Input.AdvanceTo(first.Buffer.End); // 60 consumed
        await inner.Remote.WriteAsync(new byte[41], Ct); // 101 in all
        await Assert.ThrowsAsync<RelayLimitExceededException>(async () => await stream.Input.ReadAsync(Ct));
        Assert.True(inner.WasReset);
        await Assert.ThrowsAsync<RelayLimitExceededException>(async () => await stream.Input.ReadAsync(Ct));
        Assert.Equal("received more than the announced 100 bytes", Assert.Single(reasons));
    }

    private static (LimitedRelayStream Stream, FakeStream Inner, List<string> Reasons) Limited(long data)
    {
        var inner = new FakeStream();
        var reasons = new List<string>();
        var stream = new LimitedRelayStream(inner, new RelayLimit(null, data), TimeSpan.Zero, TimeProvider.System, reasons.Add);
        return (stream, inner, reasons);
    }

    private sealed class FakeStream : IStream
    {
        private readonly Pipe _in = new();
        private readonly Pipe _out = new();

        public PipeWriter Remote => _in.Writer;

        public bool WasReset { get; private set; }

        public PipeReader Input => _in.Reader;

        public PipeWriter Output => _out.Writer;

        public string Protocol => RelayProtocol.Stop;

        public IConnection Connection => throw new NotSupportedException();

        public Direction Direction => Direction.Inbound;

        public void Reset()
        {
            WasReset = true;
            _in.Writer.Complete(new IOException("reset"));
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
