using P2PStack.Identity;
using P2PStack.Network;
using P2PStack.Privacy.Onion.Client;
using P2PStack.Protocols.Kademlia;
using P2PStack.Protocols.Kademlia.Pb;

namespace P2PStack.Privacy.ShadowAddresses.Directory;

/// <summary>
/// One DHT operation's network over onion circuits: its own isolated circuits, and per DHT peer one end-to-end
/// connection (a fresh ephemeral identity each) reused by the operation's requests to that peer. Disposing closes the
/// connections and the circuits.
/// </summary>
internal sealed class CircuitKadSession(OnionClient client, IPeerHost host, KademliaOptions options)
    : IKadNetwork, IAsyncDisposable
{
    private readonly object _isolation = new();
    private readonly Lock _gate = new();
    private readonly Dictionary<PeerId, IConnection> _connections = [];
    private readonly List<IConnection> _all = [];
    private bool _disposed;

    public Task PrepareAsync(CancellationToken cancellationToken) =>
        client.BuildCircuitAsync(new CircuitRequest { Isolation = _isolation }, cancellationToken);

    public async Task<Message?> SendAsync(PeerId peer, Message request, bool expectResponse, CancellationToken cancellationToken)
    {
        var connection = await ConnectionToAsync(peer, cancellationToken).ConfigureAwait(false);
        var stream = await connection.OpenStreamAsync([options.ProtocolId], cancellationToken).ConfigureAwait(false);
        try
        {
            await KadProtocol.WriteAsync(stream.Output, request, options.MaxMessageSize, cancellationToken).ConfigureAwait(false);
            Message? response = null;
            if (expectResponse)
                response = await KadProtocol.ReadAsync(stream.Input, options.MaxMessageSize, cancellationToken).ConfigureAwait(false);
            await stream.Output.CompleteAsync().ConfigureAwait(false);
            await stream.DisposeAsync().ConfigureAwait(false);
            return response;
        }
        catch
        {
            stream.Reset();
            await stream.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task<IConnection> ConnectionToAsync(PeerId peer, CancellationToken cancellationToken)
    {
        if (peer == host.PeerId) throw new IOException("this node is not asked over a circuit");
        // Every peer is tried, whatever identify said of it (a node may start accepting circuit connections later): the
        // exit ends the stream at once (END connect_failed) when the peer does not serve the destination protocol.
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_connections.TryGetValue(peer, out var open) && open.Completion is { IsCompleted: false }) return open;
        }
        var connected = await client.ConnectAsync(peer, new CircuitRequest { Isolation = _isolation }, identity: null, circuitId: null,
            cancellationToken).ConfigureAwait(false);
        bool keep;
        lock (_gate)
        {
            keep = !_disposed;
            if (keep)
            {
                _connections[peer] = connected.Connection;
                _all.Add(connected.Connection);
            }
        }
        if (!keep)
        {
            await connected.Connection.CloseAsync(CancellationToken.None).ConfigureAwait(false);
            throw new ObjectDisposedException(nameof(CircuitKadSession));
        }
        return connected.Connection;
    }

    public async ValueTask DisposeAsync()
    {
        IConnection[] connections;
        lock (_gate)
        {
            if (_disposed) return;
            _disposed = true;
            connections = [.. _all];
        }
        foreach (var connection in connections)
        {
            try { await connection.CloseAsync(CancellationToken.None).ConfigureAwait(false); }
            catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException) { }
        }
        await client.CloseIsolatedAsync(_isolation, CancellationToken.None).ConfigureAwait(false);
    }
}
