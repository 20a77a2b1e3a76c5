using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using P2PStack.Network;

namespace P2PStack.Protocols.GossipSub;

/// <summary>
/// The host-facing handler of the pubsub protocol ids. It resolves <see cref="GossipSubService"/> lazily (the service
/// needs the host, which needs its handlers) and at the latest when the first peer connects, so that the service sees
/// every connection.
/// </summary>
public sealed class GossipSubHandler : IProtocolHandler, IDisposable
{
    private readonly Lazy<GossipSubService> _service;
    private IDisposable? _activation;

    public GossipSubHandler(IServiceProvider services, IEventBus events)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(events);
        Protocols = services.GetService<IOptions<GossipSubOptions>>()?.Value.Protocols ?? GossipSubProtocols.All;
        _service = new Lazy<GossipSubService>(services.GetRequiredService<GossipSubService>);
        _activation = events.Subscribe<PeerConnected>(_ => Activate());
    }

    public IReadOnlyList<string> Protocols { get; }

    public Task HandleAsync(IStream stream, CancellationToken cancellationToken) =>
        _service.Value.HandleInboundAsync(stream, cancellationToken);

    private void Activate()
    {
        if (Interlocked.Exchange(ref _activation, null) is { } activation)
        {
            activation.Dispose();
            _ = _service.Value; // the service subscribes to host events and adopts existing connections
        }
    }

    public void Dispose() => Interlocked.Exchange(ref _activation, null)?.Dispose();
}
