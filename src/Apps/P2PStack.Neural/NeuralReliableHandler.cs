using Microsoft.Extensions.DependencyInjection;
using P2PStack.IO;
using P2PStack.Network;

namespace P2PStack.Neural;

/// <summary>
/// Serves <c>/synaptic/neural/reliable/1.0.0</c>: reads one length-prefixed <c>NeuralFrame</c>, accepts or refuses
/// it, writes one length-prefixed <c>NeuralAck</c> and closes. An oversized or broken frame resets the stream
/// (counted as a drop). Not sealed so that tests can put a lossy network double in front of it.
/// </summary>
public class NeuralReliableHandler(IServiceProvider services) : IProtocolHandler
{
    private NeuralMesh Mesh => services.GetRequiredService<NeuralMesh>();

    public IReadOnlyList<string> Protocols { get; } = [NeuralProtocol.ReliableProtocolId];

    public virtual async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
    {
        await using (stream.ConfigureAwait(false))
        {
            var mesh = Mesh;
            var from = stream.Connection.RemotePeer;
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(mesh.Options.SendTimeout);
            try
            {
                Messages.NeuralAck ack;
                using (var frame = await LengthPrefixed.ReadMessageAsync(stream.Input, mesh.Options.MaxMessageSize + NeuralMesh.FrameOverhead,
                           deadline.Token).ConfigureAwait(false))
                {
                    ack = await mesh.ReceiveReliableAsync(frame.Memory, from, AddressBlock.Of(stream.Connection), deadline.Token).ConfigureAwait(false);
                }
                LengthPrefixed.WriteMessage(stream.Output, ack);
                await stream.Output.FlushAsync(deadline.Token).ConfigureAwait(false);
                await stream.Output.CompleteAsync().ConfigureAwait(false);
            }
            catch (P2PFormatException e)
            {
                mesh.RecordStreamError(from, e is LengthPrefixException ? DropReason.Oversized : DropReason.Malformed, e.Message);
                stream.Reset();
            }
            catch (Exception e) when (e is IOException or EndOfStreamException
                                          || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                stream.Reset();
            }
        }
    }
}
