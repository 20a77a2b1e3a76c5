using System.IO.Pipelines;
using P2PStack.Network;
using P2PStack.Testing;

namespace P2PStack.Host.Tests;

/// <summary>Once armed, every flush of the protected connections waits until its token is cancelled (or the flush is
/// cancelled through CancelPendingFlush): writes that never drain, as to a remote that stopped reading. Disposing
/// the protector disarms it and lets the held flushes go (for the hosts' own close).</summary>
internal sealed class StallingProtector : IConnectionProtector, IAsyncDisposable
{
    private readonly TaskCompletionSource _flushPending = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _released = new();
    private volatile bool _armed;

    /// <summary>Completes when a flush is held.</summary>
    public Task FlushPending => _flushPending.Task;

    public void Arm() => _armed = true;

    public async ValueTask DisposeAsync()
    {
        _armed = false;
        await _released.CancelAsync();
    }

    public ValueTask<IRawConnection> ProtectAsync(IRawConnection connection, CancellationToken cancellationToken) =>
        ValueTask.FromResult<IRawConnection>(new StallingConnection(connection, this));

    private sealed class StallingConnection(IRawConnection inner, StallingProtector owner) : DelegatingRawConnection(inner)
    {
        public override PipeWriter Output { get; } = new StallingWriter(inner.Output, owner);
    }

    private sealed class StallingWriter(PipeWriter inner, StallingProtector owner) : DelegatingPipeWriter(inner)
    {
        private CancellationTokenSource _flushCancelled = new();

        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) =>
            owner._armed ? StallAsync(cancellationToken) : Inner.FlushAsync(cancellationToken);

        public override void CancelPendingFlush()
        {
            _flushCancelled.Cancel();
            Inner.CancelPendingFlush();
        }

        private async ValueTask<FlushResult> StallAsync(CancellationToken cancellationToken)
        {
            owner._flushPending.TrySetResult();
            using var held = CancellationTokenSource.CreateLinkedTokenSource(_flushCancelled.Token, owner._released.Token,
                cancellationToken);
            try
            {
                await Task.Delay(Timeout.Infinite, held.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                if (_flushCancelled.IsCancellationRequested)
                {
                    _flushCancelled = new CancellationTokenSource();
                    return new FlushResult(isCanceled: true, isCompleted: false);
                }
            }
            return await Inner.FlushAsync(cancellationToken);
        }
    }
}
