using P2PStack.Network;

namespace P2PStack.Neural.Tests;

/// <summary>
/// A lossy link in front of a receiver's reliable handler (seeded): per attempt it loses the message, or lets it
/// through and loses the ack, and then stays silent until the sender gives up on the attempt, as a lossy network
/// would. Used by <c>ReliableDeliveryTests</c> and linked into the benchmark runner (<c>neural reliable</c>).
/// </summary>
internal static class ReliableLoss
{
    /// <param name="silence">How long a lost attempt's stream stays open and silent before it is reset: the sender's
    /// attempt timeout (it has given up by then). Without an end, every lost attempt would hold a stream until the
    /// connection closes, and the receiver's stream limits, not the loss, would decide the outcome.</param>
    internal sealed class LossModel(int seed, double lossRate, TimeSpan silence)
    {
        public TimeSpan Silence { get; } = silence;

        private readonly Random _random = new(seed);
        private long _messagesLost;
        private long _acksLost;

        public long MessagesLost => Interlocked.Read(ref _messagesLost);

        public long AcksLost => Interlocked.Read(ref _acksLost);

        /// <summary>0: deliver; 1: lose the message; 2: lose the ack.</summary>
        public int Draw()
        {
            double a, b;
            lock (_random)
            {
                a = _random.NextDouble();
                b = _random.NextDouble();
            }
            if (a < lossRate)
            {
                Interlocked.Increment(ref _messagesLost);
                return 1;
            }
            if (b < lossRate)
            {
                Interlocked.Increment(ref _acksLost);
                return 2;
            }
            return 0;
        }
    }

    /// <summary>The receiving side behind the lossy link.</summary>
    internal sealed class LossyReliableHandler(IServiceProvider services, LossModel loss) : NeuralReliableHandler(services)
    {
        public override async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
        {
            switch (loss.Draw())
            {
                case 1:
                    await using (stream) await DrainUntilTheSenderGivesUpAsync(stream, loss.Silence, cancellationToken);
                    return;
                case 2:
                    var muted = new MutedStream(stream);
                    await base.HandleAsync(muted, cancellationToken); // accepted, its ack goes nowhere
                    await using (stream) await DrainUntilTheSenderGivesUpAsync(stream, loss.Silence, cancellationToken);
                    return;
                default:
                    await base.HandleAsync(stream, cancellationToken);
                    return;
            }
        }

        private static async Task DrainUntilTheSenderGivesUpAsync(IStream stream, TimeSpan silence, CancellationToken cancellationToken)
        {
            using var held = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            held.CancelAfter(silence);
            cancellationToken = held.Token;
            try
            {
                while (true)
                {
                    var read = await stream.Input.ReadAsync(cancellationToken);
                    stream.Input.AdvanceTo(read.Buffer.End);
                    if (read.IsCompleted) await Task.Delay(Timeout.Infinite, cancellationToken); // half-closed: stay silent
                }
            }
            catch (Exception e) when (e is IOException or OperationCanceledException or InvalidOperationException)
            {
            }
            stream.Reset(); // the end of the silence (the sender has reset it already, or will see this as a failed attempt)
        }
    }

    /// <summary>A stream whose writes are discarded and whose disposal is left to the caller.</summary>
    private sealed class MutedStream(IStream inner) : IStream
    {
        private readonly System.IO.Pipelines.Pipe _sink = new();

        public System.IO.Pipelines.PipeReader Input => inner.Input;

        public System.IO.Pipelines.PipeWriter Output => _sink.Writer;

        public string Protocol => inner.Protocol;

        public IConnection Connection => inner.Connection;

        public Direction Direction => inner.Direction;

        public void Reset()
        {
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
