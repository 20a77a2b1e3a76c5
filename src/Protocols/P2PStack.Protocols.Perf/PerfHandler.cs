using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Network;

namespace P2PStack.Protocols.Perf;

/// <summary>Serves <c>/perf/1.0.0</c> within <see cref="PerfOptions"/>: to local and private peers (public ones only
/// when opened to them), a capped download and upload per stream, a time limit per stream, and a few streams at once.
/// A stream outside them is reset.</summary>
public sealed partial class PerfHandler(IOptions<PerfOptions> options, ILogger<PerfHandler>? logger = null) : IProtocolHandler
{
    private readonly ILogger _logger = (ILogger?)logger ?? NullLogger.Instance;
    private int _active;

    public IReadOnlyList<string> Protocols { get; } = [PerfProtocol.Id];

    public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        await using (stream.ConfigureAwait(false))
        {
            var o = options.Value;
            var remote = stream.Connection.RemoteAddress;
            if (!o.ServePublicPeers && AddressScope.IsPublic(remote))
            {
                LogRefused(remote, "perf is not served to public addresses (PerfOptions.ServePublicPeers)");
                stream.Reset();
                return;
            }
            if (Interlocked.Increment(ref _active) > o.MaxConcurrentStreams)
            {
                Interlocked.Decrement(ref _active);
                LogRefused(remote, $"{o.MaxConcurrentStreams} perf streams are already being served");
                stream.Reset();
                return;
            }
            try
            {
                await ServeAsync(stream, o, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                Interlocked.Decrement(ref _active);
            }
        }
    }

    private async Task ServeAsync(IStream stream, PerfOptions o, CancellationToken cancellationToken)
    {
        var remote = stream.Connection.RemoteAddress;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(o.StreamTimeout);
        try
        {
            ulong requested = await PerfProtocol.ReadSizeAsync(stream.Input, deadline.Token).ConfigureAwait(false);
            if (requested > o.MaxServeBytes)
            {
                LogRefused(remote, $"a download of {requested} bytes is over the limit of {o.MaxServeBytes}");
                stream.Reset();
                return;
            }
            await PerfProtocol.DrainAsync(stream.Input, o.MaxUploadBytes, deadline.Token).ConfigureAwait(false);
            await PerfProtocol.WriteBytesAsync(stream.Output, requested, deadline.Token).ConfigureAwait(false);
            await stream.Output.CompleteAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            LogRefused(remote, $"the stream took longer than {o.StreamTimeout}");
            stream.Reset();
        }
        catch (Exception e) when (e is ResourceLimitExceededException or InvalidDataException)
        {
            LogRefused(remote, e.Message);
            stream.Reset();
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "perf stream from {Remote} reset: {Reason}")]
    private partial void LogRefused(Multiaddr remote, string reason);
}
