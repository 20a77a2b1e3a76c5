using Microsoft.Extensions.DependencyInjection;
using P2PStack.Identity;
using P2PStack.IO;
using P2PStack.Network;

namespace P2PStack.Neural;

/// <summary>
/// Serves <c>/synaptic/neural/1.0.0</c>: reads length-prefixed frames until the remote closes. Nothing is written
/// back (responses are messages of their own on this node's outbound stream). Reading waits while the inbound queue
/// is full, which throttles the sender through the muxer's flow control; a stream on which no whole frame arrives
/// within <see cref="NeuralMeshOptions.StreamIdleTimeout"/> is reset.
/// </summary>
public sealed class NeuralStreamHandler(IServiceProvider services) : IProtocolHandler
{
    // Frame overhead around the envelope: two field tags, a length varint and the hop count.
    private const int FrameOverhead = 16;

    // Resolved on first use: the mesh depends on the host, which lists this handler.
    private NeuralMesh Mesh => services.GetRequiredService<NeuralMesh>();

    public IReadOnlyList<string> Protocols { get; } = [NeuralProtocol.ProtocolId];

    public async Task HandleAsync(IStream stream, CancellationToken cancellationToken)
    {
        await using (stream.ConfigureAwait(false))
        {
            var mesh = Mesh;
            var from = stream.Connection.RemotePeer;
            var block = AddressBlock.Of(stream.Connection);
            // This node under another identity on this connection (a shadow address's): messages to it are ours too.
            PeerId? localAs = stream.Connection.LocalPeer == mesh.LocalPeer ? null : stream.Connection.LocalPeer;
            await stream.Output.CompleteAsync().ConfigureAwait(false);
            // Each frame must arrive whole within the idle timeout (the sender closes an idle stream sooner), so a
            // silent or trickling peer cannot hold the stream for ever.
            using var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            try
            {
                while (true)
                {
                    idle.CancelAfter(mesh.Options.StreamIdleTimeout);
                    var frame = await LengthPrefixed.ReadMessageOrEndAsync(stream.Input, mesh.Options.MaxMessageSize + FrameOverhead, idle.Token)
                        .ConfigureAwait(false);
                    if (frame is null) break;
                    idle.CancelAfter(Timeout.InfiniteTimeSpan);
                    using (frame) await mesh.ReceiveFrameAsync(frame.Memory, from, block, cancellationToken, localAs).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (idle.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
            {
                mesh.RecordIdleStream(from);
                stream.Reset();
            }
            catch (P2PFormatException e)
            {
                // An oversized or broken length prefix: the stream cannot be resynchronised.
                mesh.RecordStreamError(from, e is LengthPrefixException ? DropReason.Oversized : DropReason.Malformed, e.Message);
                stream.Reset();
            }
            catch (Exception e) when (e is IOException or EndOfStreamException)
            {
                stream.Reset();
            }
        }
    }
}
