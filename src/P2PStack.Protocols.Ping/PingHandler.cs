using Microsoft.Extensions.Options;
using P2PStack.Network;

namespace P2PStack.Protocols.Ping;

/// <summary>Serves <c>/ipfs/ping/1.0.0</c>: echoes every 32-byte payload until the remote closes or goes idle.</summary>
public sealed class PingHandler(IOptions<PingOptions> options) : IProtocolHandler
{
    public IReadOnlyList<string> Protocols { get; } = [PingProtocol.Id];

    public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
    {
        await using (stream.ConfigureAwait(false))
        {
            var payload = new byte[PingProtocol.PayloadSize];
            using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            while (true)
            {
                idle.CancelAfter(options.Value.IdleTimeout);
                bool received;
                try
                {
                    received = await PingProtocol.ReadPayloadAsync(stream.Input, payload, idle.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    stream.Reset(); // idle too long
                    return;
                }
                if (!received) break;
                await stream.Output.WriteAsync(payload, cancellationToken).ConfigureAwait(false);
            }
            await stream.Output.CompleteAsync().ConfigureAwait(false);
        }
    }
}
