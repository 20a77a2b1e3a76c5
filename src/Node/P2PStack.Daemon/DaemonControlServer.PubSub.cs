using Google.Protobuf;
using P2PStack.Daemon.Pb;
using P2PStack.Protocols.GossipSub;

namespace P2PStack.Daemon;

// PUBSUB requests. SUBSCRIBE turns the connection into a feed of PSMessages that lasts until the client closes it.
public sealed partial class DaemonControlServer
{
    private async Task<Outcome> HandlePubSubAsync(PSRequest request, ControlConnection connection, CancellationToken cancellationToken)
    {
        var pubsub = _pubsub ?? throw new DaemonRequestException("pubsub is not enabled (start the daemon with --pubsub)");
        if (!request.HasType) throw new DaemonRequestException("invalid request: pubsub type is missing");
        switch (request.Type)
        {
            case PSRequest.Types.Type.GetTopics:
                {
                    var topics = new PSResponse();
                    topics.Topics.AddRange(pubsub.GetTopics());
                    await connection.WriteAsync(new Response { Type = Response.Types.Type.Ok, Pubsub = topics }, cancellationToken).ConfigureAwait(false);
                    return Outcome.Continue;
                }
            case PSRequest.Types.Type.ListPeers:
                {
                    // No topic: every peer with a pubsub stream (as go).
                    string topic = request.HasTopic ? request.Topic : "";
                    var peers = new PSResponse();
                    if (topic.Length > 0) peers.Topics.Add(topic);
                    foreach (var peer in topic.Length > 0 ? pubsub.GetPeers(topic) : pubsub.GetPeers())
                        peers.PeerIDs.Add(ByteString.CopyFrom(peer.Bytes.Span));
                    await connection.WriteAsync(new Response { Type = Response.Types.Type.Ok, Pubsub = peers }, cancellationToken).ConfigureAwait(false);
                    return Outcome.Continue;
                }
            case PSRequest.Types.Type.Publish:
                {
                    string topic = Topic(request);
                    if (!request.HasData) throw new DaemonRequestException("invalid request: data is missing");
                    using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                    {
                        timeout.CancelAfter(_options.DefaultOperationTimeout);
                        await pubsub.PublishAsync(topic, request.Data.Memory, timeout.Token).ConfigureAwait(false);
                    }
                    await connection.WriteAsync(Responses.Ok(), cancellationToken).ConfigureAwait(false);
                    return Outcome.Continue;
                }
            case PSRequest.Types.Type.Subscribe:
                await SubscribeAsync(pubsub, Topic(request), connection, cancellationToken).ConfigureAwait(false);
                return Outcome.HandedOver;
            default:
                throw new DaemonRequestException($"unknown pubsub request type {(int)request.Type}");
        }
    }

    private static string Topic(PSRequest request)
    {
        if (!request.HasTopic || request.Topic.Length == 0) throw new DaemonRequestException("invalid request: topic is missing");
        return request.Topic;
    }

    private static async Task SubscribeAsync(GossipSubService pubsub, string topic, ControlConnection connection, CancellationToken cancellationToken)
    {
        var subscription = await pubsub.SubscribeAsync(topic, cancellationToken).ConfigureAwait(false);
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task watch = Task.CompletedTask;
        try
        {
            await connection.WriteAsync(Responses.Ok(), cancellationToken).ConfigureAwait(false);
            watch = WatchForCloseAsync(connection, ended);
            await foreach (var message in subscription.WithCancellation(ended.Token).ConfigureAwait(false))
                await connection.WriteAsync(ToWire(message), ended.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or System.Net.Sockets.SocketException)
        {
            // The client closed the feed (or went away), or the daemon is stopping.
        }
        finally
        {
            subscription.Dispose();
            await ended.CancelAsync().ConfigureAwait(false);
            await watch.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    // The client sends nothing after SUBSCRIBE; the end of its input (or an error) is its cancel.
    private static async Task WatchForCloseAsync(ControlConnection connection, CancellationTokenSource ended)
    {
        try
        {
            while (true)
            {
                var result = await connection.Reader.ReadAsync(ended.Token).ConfigureAwait(false);
                connection.Reader.AdvanceTo(result.Buffer.End);
                if (result.IsCompleted) break;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or System.Net.Sockets.SocketException or ObjectDisposedException)
        {
        }
        await ended.CancelAsync().ConfigureAwait(false);
    }

    private static PSMessage ToWire(PubSubMessage message)
    {
        var raw = message.Raw;
        var wire = new PSMessage { Data = raw.Data };
        if (raw.HasFrom) wire.From = raw.From;
        if (raw.HasSeqno) wire.Seqno = raw.Seqno;
        if (raw.HasSignature) wire.Signature = raw.Signature;
        if (raw.HasKey) wire.Key = raw.Key;
        else if (raw.HasFrom && message.Author?.TryGetPublicKey() is { } inlined) wire.Key = ByteString.CopyFrom(inlined.ToProtobuf());
        wire.TopicIDs.Add(raw.Topic);
        return wire;
    }
}
