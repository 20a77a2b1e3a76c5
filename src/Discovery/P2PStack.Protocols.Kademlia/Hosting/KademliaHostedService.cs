using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using P2PStack.Network;

namespace P2PStack.Protocols.Kademlia.Hosting;

/// <summary>
/// Binds the DHT to the host: in server mode serves the protocol (so identify advertises it); adds identified peers
/// that serve it to the routing table and drops those that stopped; runs refresh and cleanup; bootstraps from the
/// configured peers in the background. Start it after the host (the generic host does, in registration order).
/// </summary>
public sealed partial class KademliaHostedService(IPeerHost host, KademliaDht dht, KadStreamHandler handler,
    ILogger<KademliaHostedService> logger) : IHostedService, IAsyncDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private IDisposable? _registration;
    private IDisposable? _subscription;
    private Task _bootstrap = Task.CompletedTask;

    /// <summary>Completes when the initial bootstrap has finished (successfully or not).</summary>
    public Task Bootstrap => _bootstrap;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (_subscription is not null) return Task.CompletedTask;
        if (dht.Options.Mode == DhtMode.Server) _registration = host.AddHandler(handler);
        // Owned by the host: stopping it cancels and awaits the check.
        _subscription = host.Events.Subscribe<PeerIdentified>(e => host.RunInBackground(token => OnIdentifiedAsync(e, token)));
        dht.StartBackgroundTasks();
        if (dht.Options.BootstrapPeers.Count > 0) _bootstrap = BootstrapInBackgroundAsync();
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _subscription?.Dispose();
        _registration?.Dispose();
        await _bootstrap.ConfigureAwait(false);
        await dht.DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None).ConfigureAwait(false);

    // As go: a peer whose identify lists the DHT protocol is a candidate (checked with a FIND_NODE); one that does
    // not (any more) leaves the table.
    private async Task OnIdentifiedAsync(PeerIdentified identified, CancellationToken hostStopping)
    {
        var peer = identified.Peer;
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token, hostStopping);
        try
        {
            // The protocols identify just stored (reading them back would commit the store's queued writes).
            if ((identified.Protocols ?? host.PeerStore.GetProtocols(peer)).Contains(dht.Options.ProtocolId))
                await dht.AddServerPeerAsync(peer, stopping.Token).ConfigureAwait(false);
            else
                dht.RemovePeer(peer);
        }
        catch (Exception e) when (e is not OperationCanceledException || !stopping.IsCancellationRequested)
        {
            Log.AddFailed(logger, peer, e.Message);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task BootstrapInBackgroundAsync()
    {
        await Task.Yield();
        try
        {
            await dht.BootstrapAsync(_stopping.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (!_stopping.IsCancellationRequested)
        {
            Log.BootstrapFailed(logger, e.Message);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static partial class Log
    {
        [LoggerMessage(Level = LogLevel.Debug, Message = "could not add DHT peer {Peer}: {Reason}")]
        public static partial void AddFailed(ILogger logger, Identity.PeerId peer, string reason);

        [LoggerMessage(Level = LogLevel.Warning, Message = "DHT bootstrap failed: {Reason}")]
        public static partial void BootstrapFailed(ILogger logger, string reason);
    }
}
