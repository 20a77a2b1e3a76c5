using Microsoft.Extensions.Options;
using P2PStack.Network;

namespace P2PStack.Protocols.Ping;

/// <summary>Serves <c>/ipfs/ping/1.0.0</c>: echoes every 32-byte payload until the remote closes or goes idle (sends
/// nothing, or stops reading the answers, for <see cref="PingOptions.IdleTimeout"/>).</summary>
public sealed class PingHandler(IOptions<PingOptions> options) : IProtocolHandler
{
    public IReadOnlyList<string> Protocols { get; } = [PingProtocol.Id];

    /// <summary>Ping measures limited (relayed) connections too.</summary>
    public bool RunOnLimitedConnections => true;

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
                try
                {
                    // The idle budget covers the answer too: a peer that pings but never reads would otherwise hold
                    // this handler (and its stream slot) for as long as the connection lives.
                    await stream.Output.WriteAsync(payload, idle.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    stream.Reset();
                    return;
                }
            }
            await stream.Output.CompleteAsync().ConfigureAwait(false);
        }
    }
}
