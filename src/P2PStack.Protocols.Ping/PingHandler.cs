using P2PStack.Network;

namespace P2PStack.Protocols.Ping;

/// <summary>Serves <c>/ipfs/ping/1.0.0</c>: echoes every 32-byte payload until the remote closes.</summary>
public sealed class PingHandler : IProtocolHandler
{
    public IReadOnlyList<string> Protocols { get; } = [PingProtocol.Id];

    public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
    {
        await using (stream.ConfigureAwait(false))
        {
            var payload = new byte[PingProtocol.PayloadSize];
            while (await PingProtocol.ReadPayloadAsync(stream.Input, payload, cancellationToken).ConfigureAwait(false))
                await stream.Output.WriteAsync(payload, cancellationToken).ConfigureAwait(false);
            await stream.Output.CompleteAsync().ConfigureAwait(false);
        }
    }
}
