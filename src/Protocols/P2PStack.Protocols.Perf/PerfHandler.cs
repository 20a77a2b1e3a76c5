using Microsoft.Extensions.Options;
using P2PStack.Network;

namespace P2PStack.Protocols.Perf;

/// <summary>Serves <c>/perf/1.0.0</c>.</summary>
public sealed class PerfHandler(IOptions<PerfOptions> options) : IProtocolHandler
{
    public IReadOnlyList<string> Protocols { get; } = [PerfProtocol.Id];

    public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
    {
        await using (stream.ConfigureAwait(false))
        {
            ulong requested = await PerfProtocol.ReadSizeAsync(stream.Input, cancellationToken).ConfigureAwait(false);
            if (requested > options.Value.MaxServeBytes)
            {
                stream.Reset();
                return;
            }
            await PerfProtocol.DrainAsync(stream.Input, cancellationToken).ConfigureAwait(false);
            await PerfProtocol.WriteBytesAsync(stream.Output, requested, cancellationToken).ConfigureAwait(false);
            await stream.Output.CompleteAsync().ConfigureAwait(false);
        }
    }
}
