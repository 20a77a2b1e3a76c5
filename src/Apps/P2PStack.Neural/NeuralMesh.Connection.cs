using Google.Protobuf;
using P2PStack.IO;
using P2PStack.Network;
using P2PStack.Neural.Messages;

namespace P2PStack.Neural;

public sealed partial class NeuralMesh
{
    /// <summary>
    /// Signs one message and sends it over <paramref name="connection"/> (for instance an end-to-end connection over an
    /// onion circuit) instead of the destination peer's send queue, which would dial the peer directly: nothing but that
    /// connection is used, the sealing key too is fetched over it. Returns once the message is written and the
    /// destination has accepted the stream (its multistream answer and end of stream were read). The message stays signed by this node: the recipient learns who wrote it, not
    /// where this node is.
    /// </summary>
    /// <param name="to">A peer (the connection's remote peer) or an agent on that peer.</param>
    /// <exception cref="ArgumentException">A swarm destination, a peer other than the connection's, a command (its
    /// response would come back as a message of its own, directly), a reliable send, or the limits of <see cref="PostAsync"/>.</exception>
    /// <exception cref="ProtocolNotSupportedException">The destination does not accept neural messages on this connection.</exception>
    public Task<PostedMessage> SendOverAsync(IConnection connection, NeuralDestination to, IMessage body, SendOptions? options = null,
        CancellationToken cancellationToken = default) => SendOverAsync(connection, to, body, options, signAs: null, cancellationToken);

    /// <summary>
    /// As <see cref="SendOverAsync(IConnection, NeuralDestination, IMessage, SendOptions?, CancellationToken)"/>, the message
    /// signed by <paramref name="signAs"/> instead of this node (the connection's own ephemeral identity, to a shadow
    /// address: the recipient learns nothing of this node). Such a message is never sealed (the recipient's sealing key
    /// record would name its node; the connection is end-to-end encrypted anyway): asking for a seal is refused.
    /// </summary>
    public async Task<PostedMessage> SendOverAsync(IConnection connection, NeuralDestination to, IMessage body, SendOptions? options,
        ILocalIdentity? signAs, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(to);
        ArgumentNullException.ThrowIfNull(body);
        var peer = connection.RemotePeer;
        if (to.Kind == DestinationKind.Swarm)
            throw new ArgumentException("a swarm message is published over gossipsub, not sent over one connection", nameof(to));
        if (to.Kind == DestinationKind.Peer && to.Peer != peer)
            throw new ArgumentException($"the message is for {to.Peer}, the connection goes to {peer}", nameof(to));
        if (options?.Reliable == true)
            throw new ArgumentException("a message over one connection is not acknowledged (reliable sends retry over new connections)", nameof(options));
        if (body is Command)
            throw new ArgumentException("a command's response comes back as a message of its own to this node: send commands directly", nameof(body));
        if (signAs is not null && options?.Seal == true)
            throw new ArgumentException("a message signed by another identity is not sealed: the recipient's sealing key would name its node", nameof(options));
        var sealTo = signAs is null ? await SealingKeyForAsync(peer, options, cancellationToken, connection: connection).ConfigureAwait(false) : null;
        var (message, envelope) = Create(to, body, options, sealTo, null, signAs);
        var stream = await connection.OpenStreamAsync([NeuralProtocol.ProtocolId], cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            try
            {
                LengthPrefixed.WriteMessage(stream.Output, NeuralMessageCodec.EncodeFrame(envelope, 0));
                await stream.Output.CompleteAsync().ConfigureAwait(false);
                // The receiver writes nothing and closes its side at once: reading to the end confirms the protocol
                // (a refusal throws here) and that the stream was not reset.
                while (true)
                {
                    var read = await stream.Input.ReadAsync(cancellationToken).ConfigureAwait(false);
                    stream.Input.AdvanceTo(read.Buffer.End);
                    if (read.IsCompleted) break;
                }
            }
            catch
            {
                stream.Reset();
                Metrics.Dropped(message.Type, DropReason.SendFailed);
                throw;
            }
        }
        Metrics.Sent(message.Type);
        return new PostedMessage(NeuralMessageId.FromBytes(message.Id.Span), peer, Task.CompletedTask) { Sealed = sealTo is not null };
    }
}
