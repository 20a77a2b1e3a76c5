using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using P2PStack.Addressing;
using P2PStack.Nat.Testing;
using P2PStack.Testing;
using Xunit.Abstractions;

namespace P2PStack.Nat.PortMapping.Tests;

/// <summary>
/// Port mapping errors say each thing once: a device skipped by discovery is named with its location once and the
/// "UPnP:" of the error that lists it is not repeated inside; a log line that names the protocol does not repeat it in
/// its reason; a removal that runs out of <see cref="PortMappingOptions.RemoveTimeout"/> says so, not "canceled".
/// </summary>
[Collection(PortMappingMetricsCollection.Name)]
public sealed class UpnpErrorTextTests(ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly IPAddress External = IPAddress.Parse("11.0.3.1");
    private TestPeer? _peer;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_peer is not null) await _peer.DisposeAsync();
    }

    [Theory]
    [InlineData(true, "")] // resets the description fetch
    [InlineData(false, "<root><unclosed></root>")] // serves a description that is not XML
    public async Task A_device_skipped_by_discovery_is_named_with_its_location_once_and_UPnP_once(bool reset, string description)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        using var device = new FakeSsdpResponder(d =>
            "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n"
            + $"USN: uuid:fake-device::upnp:rootdevice\r\nLOCATION: {d.Location}\r\nSERVER: FakeDevice/1.0\r\n\r\n", description)
        {
            ResetDescriptionFetch = reset,
        };
        var log = new RecordingLogger<PortMapper>();
        using var mapper = new PortMapper(Options.Create(new PortMappingOptions
        {
            Protocols = PortMappingProtocols.Upnp,
            SsdpEndPoint = device.SsdpEndPoint,
            SsdpTimeout = TimeSpan.FromSeconds(1),
            HttpTimeout = TimeSpan.FromSeconds(5),
        }), new PortMappingMetrics(), log);

        var failed = await Assert.ThrowsAsync<PortMappingFailedException>(() => mapper.MapAsync(MappingProtocol.Tcp, 4003, timeout.Token));
        output.WriteLine(failed.Message);
        Assert.Equal(1, Count(failed.Message, device.Location.ToString()));
        Assert.Equal(1, Count(failed.Message, "UPnP:"));
        Assert.Contains("FakeDevice/1.0", failed.Message, StringComparison.Ordinal);
        string line = Assert.Single(log.Messages);
        output.WriteLine(line);
        Assert.Equal(1, Count(line, device.Location.ToString()));
        Assert.Equal(1, Count(line, "UPnP:"));
    }

    [Fact]
    public async Task A_renewal_the_gateway_does_not_answer_is_logged_with_the_protocol_once()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        using var gateway = new FakeUpnpGateway(External);
        var log = new RecordingLogger<PortMapper>();
        using var mapper = new PortMapper(Options.Create(new PortMappingOptions
        {
            Protocols = PortMappingProtocols.Upnp,
            HttpTimeout = TimeSpan.FromSeconds(1),
        }), new PortMappingMetrics(), log);
        using var http = new HttpClient();
        var mapping = new PortMappingResult("UPnP", MappingProtocol.Tcp, 4004, External, 4004, TimeSpan.FromHours(1), gateway.Address)
        {
            Upnp = await UpnpGateway.FromLocationAsync(http, mapper.Options, gateway.Location, timeout.Token),
        };
        gateway.AddPortMapping = UpnpMisbehaviour.Silent;

        var failed = await Assert.ThrowsAsync<PortMappingFailedException>(() => mapper.RenewAsync(mapping, timeout.Token));
        output.WriteLine(failed.Message);
        Assert.Equal(1, Count(failed.Message, "UPnP:"));
        string line = Assert.Single(log.Messages);
        output.WriteLine(line);
        Assert.Equal(1, Count(line, "UPnP:"));
        Assert.Contains("did not answer within", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_removal_past_the_remove_timeout_is_logged_as_a_timeout_not_a_cancellation()
    {
        _peer = await TestPeer.StartAsync(listen: "/ip4/0.0.0.0/tcp/0");
        int port = int.Parse(_peer.Host.ListenAddresses[0].ValueOf(MultiaddrProtocols.Tcp)!, System.Globalization.CultureInfo.InvariantCulture);
        var log = new RecordingLogger<PortMappingService>();
        var service = new PortMappingService(_peer.Host, new SilentOnRemoveGateway(new PortMappingOptions { RemoveTimeout = TimeSpan.FromMilliseconds(300) }),
            new PortMappingMetrics(), log);
        await service.StartAsync(CancellationToken.None);
        await Poll.UntilAsync(() => service.Mappings.FirstOrDefault(m => m.InternalPort == port), "the mapping");

        await service.StopAsync(CancellationToken.None);
        string line = Assert.Single(log.Messages, m => m.Contains("removing the mapping", StringComparison.Ordinal));
        output.WriteLine(line);
        Assert.Contains("no answer within 0.3 s (RemoveTimeout)", line, StringComparison.Ordinal);
        Assert.DoesNotContain("cancel", line, StringComparison.OrdinalIgnoreCase);
    }

    private static int Count(string text, string part)
    {
        int count = 0;
        for (int at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + part.Length, StringComparison.Ordinal)) count++;
        return count;
    }

    /// <summary>Maps at once; a removal is never answered (waits until its token is cancelled).</summary>
    private sealed class SilentOnRemoveGateway(PortMappingOptions options) : IPortMappingClient
    {
        public PortMappingOptions Options => options;

        public Task<PortMappingResult> MapAsync(MappingProtocol protocol, int internalPort, CancellationToken cancellationToken) =>
            Task.FromResult(new PortMappingResult("NAT-PMP", protocol, internalPort, External, internalPort, TimeSpan.FromHours(1), IPAddress.Loopback));

        public Task<PortMappingResult> RenewAsync(PortMappingResult mapping, CancellationToken cancellationToken) =>
            MapAsync(mapping.Protocol, mapping.InternalPort, cancellationToken);

        public Task RemoveAsync(PortMappingResult mapping, CancellationToken cancellationToken) =>
            Task.Delay(Timeout.InfiniteTimeSpan, cancellationToken);
    }

    private sealed class RecordingLogger<T> : ILogger<T>
    {
        private readonly ConcurrentQueue<string> _messages = new();

        public IReadOnlyList<string> Messages => [.. _messages];

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel)) _messages.Enqueue(formatter(state, exception));
        }
    }
}
