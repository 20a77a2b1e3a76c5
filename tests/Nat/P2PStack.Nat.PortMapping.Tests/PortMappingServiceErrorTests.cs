using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Logging;
using P2PStack.Addressing;
using P2PStack.Nat.Testing;
using P2PStack.Testing;

namespace P2PStack.Nat.PortMapping.Tests;

/// <summary>
/// The port mapping service when its gateway client throws what it does not type (a bug, an untyped failure): the
/// round's error is logged once, counted and shown in <see cref="PortMappingService.LastError"/>, and the service maps
/// again after the retry interval instead of ending its loop silently.
/// </summary>
[Collection(PortMappingMetricsCollection.Name)]
public sealed class PortMappingServiceErrorTests : IAsyncLifetime
{
    private static readonly IPAddress External = IPAddress.Parse("11.0.1.1");
    private readonly ManualClock _clock = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
    private readonly MetricCapture _metrics = new(PortMappingMetrics.MeterName);
    private TestPeer? _peer;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_peer is not null) await _peer.DisposeAsync();
        _metrics.Dispose();
    }

    [Fact]
    public async Task AnUnexpectedErrorIsLoggedCountedShownAndTheMappingTriedAgainAfterTheRetryInterval()
    {
        _peer = await TestPeer.StartAsync(listen: "/ip4/0.0.0.0/tcp/0");
        int port = int.Parse(_peer.Host.ListenAddresses[0].ValueOf(MultiaddrProtocols.Tcp)!, System.Globalization.CultureInfo.InvariantCulture);
        var gateway = new ThrowingOnceGateway(new PortMappingOptions { RetryInterval = TimeSpan.FromMinutes(10) });
        var log = new RecordingLogger();
        var service = new PortMappingService(_peer.Host, gateway, new PortMappingMetrics(), log, _clock);
        await service.StartAsync(CancellationToken.None);
        try
        {
            // The first round throws: reported, and the loop waits for the retry interval on the service's clock.
            var error = await Poll.UntilAsync(() => service.LastError, "the round's error in LastError");
            Assert.IsType<InvalidOperationException>(Assert.Single(error.Errors));
            await Poll.UntilAsync(() => _clock.PendingTimers == 1, "the service waiting to try again");
            Assert.Empty(service.Mappings);
            Assert.Equal(1, gateway.Calls);
            var warning = Assert.Single(log.Entries);
            Assert.Equal(LogLevel.Warning, warning.Level);
            Assert.IsType<InvalidOperationException>(warning.Exception);
            Assert.Equal(1, _metrics.Sum("p2pstack_port_mapping_round_errors_total"));

            // Not before the retry interval...
            _clock.Advance(TimeSpan.FromMinutes(10) - TimeSpan.FromSeconds(1));
            Assert.Equal(1, gateway.Calls);

            // ...then a new round maps the port, and the error is cleared.
            _clock.Advance(TimeSpan.FromSeconds(1));
            var mapping = await Poll.UntilAsync(() => service.Mappings.FirstOrDefault(), "the mapping after the retry");
            Assert.Equal((port, External), (mapping.InternalPort, mapping.ExternalAddress));
            Assert.Equal([Multiaddr.Parse($"/ip4/11.0.1.1/tcp/{port}")], _peer.Host.AddressManager.MappedAddresses);
            await Poll.UntilAsync(() => service.LastError is null, "LastError cleared by the success");
            Assert.Single(log.Entries);
            Assert.Equal(1, _metrics.Sum("p2pstack_port_mapping_round_errors_total"));
        }
        finally
        {
            await service.StopAsync(CancellationToken.None);
        }
    }

    /// <summary>A gateway client whose first request throws an untyped exception; later ones are granted.</summary>
    private sealed class ThrowingOnceGateway(PortMappingOptions options) : IPortMappingClient
    {
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public PortMappingOptions Options => options;

        public Task<PortMappingResult> MapAsync(MappingProtocol protocol, int internalPort, CancellationToken cancellationToken) =>
            Interlocked.Increment(ref _calls) == 1
                ? throw new InvalidOperationException("the gateway double's bug")
                : Task.FromResult(new PortMappingResult("NAT-PMP", protocol, internalPort, External, internalPort, TimeSpan.FromHours(1),
                    IPAddress.Loopback));

        public Task<PortMappingResult> RenewAsync(PortMappingResult mapping, CancellationToken cancellationToken) =>
            MapAsync(mapping.Protocol, mapping.InternalPort, cancellationToken);

        public Task RemoveAsync(PortMappingResult mapping, CancellationToken cancellationToken) => Task.CompletedTask;
    }

    private sealed class RecordingLogger : ILogger<PortMappingService>
    {
        public ConcurrentQueue<(LogLevel Level, Exception? Exception)> Entries { get; } = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel)) Entries.Enqueue((logLevel, exception));
        }
    }
}
