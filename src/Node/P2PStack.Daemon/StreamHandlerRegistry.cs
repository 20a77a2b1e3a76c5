using System.Net.Sockets;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using P2PStack.Addressing;
using P2PStack.Daemon.Pb;
using P2PStack.Network;

namespace P2PStack.Daemon;

/// <summary>
/// Client stream handlers (STREAM_HANDLER): which client address receives the inbound streams of each protocol. Each
/// protocol gets one host handler, registered on first use; a new registration only changes its address (the spec's
/// "overwrite"). An inbound stream is handed over by dialing the address, writing a length-prefixed
/// <see cref="StreamInfo"/> and bridging the stream.
/// </summary>
internal sealed partial class StreamHandlerRegistry(IPeerHost host, DaemonOptions options, ILogger logger) : IAsyncDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, (Multiaddr Address, IDisposable Registration)> _handlers = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private readonly HashSet<Task> _bridges = [];

    public IReadOnlyCollection<string> Protocols
    {
        get { lock (_gate) return [.. _handlers.Keys]; }
    }

    /// <summary>Routes <paramref name="protocols"/> to <paramref name="address"/>.</summary>
    /// <exception cref="DaemonRequestException">A protocol is served by the node itself, or the handler limit is reached.</exception>
    public void Register(IReadOnlyList<string> protocols, Multiaddr address)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_stopping.IsCancellationRequested, this);
            var served = host.Protocols;
            foreach (string protocol in protocols)
            {
                if (!_handlers.ContainsKey(protocol) && served.Contains(protocol))
                    throw new DaemonRequestException($"protocol {protocol} is served by the daemon itself and cannot be handed to a client");
            }
            int added = protocols.Distinct().Count(p => !_handlers.ContainsKey(p));
            if (_handlers.Count + added > options.MaxStreamHandlers)
                throw new DaemonRequestException($"stream handler limit reached ({options.MaxStreamHandlers} protocols)");
            foreach (string protocol in protocols)
            {
                if (_handlers.TryGetValue(protocol, out var existing))
                    _handlers[protocol] = (address, existing.Registration);
                else
                    _handlers[protocol] = (address, host.AddHandler(new ForwardingHandler(this, protocol)));
            }
        }
        LogRegistered(string.Join(", ", protocols), address.ToString());
    }

    private Multiaddr? AddressOf(string protocol)
    {
        lock (_gate) return _handlers.TryGetValue(protocol, out var entry) ? entry.Address : null;
    }

    private async Task HandOverAsync(string protocol, IStream stream, CancellationToken cancellationToken)
    {
        var address = AddressOf(protocol);
        if (address is null)
        {
            stream.Reset();
            await stream.DisposeAsync().ConfigureAwait(false);
            return;
        }
        using var lifetime = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
        ControlConnection client;
        try
        {
            using var dial = CancellationTokenSource.CreateLinkedTokenSource(lifetime.Token);
            dial.CancelAfter(options.HandlerDialTimeout);
            var socket = await ControlEndpoint.ConnectAsync(address, dial.Token).ConfigureAwait(false);
            client = new ControlConnection(socket);
            var info = new StreamInfo
            {
                Peer = ByteString.CopyFrom(stream.Connection.RemotePeer.Bytes.Span),
                Addr = ByteString.CopyFrom(stream.Connection.RemoteAddress.Bytes.Span),
                Proto = stream.Protocol,
            };
            try
            {
                await client.WriteAsync(info, dial.Token).ConfigureAwait(false);
            }
            catch
            {
                client.Abort();
                await client.DisposeAsync().ConfigureAwait(false);
                throw;
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
        {
            LogHandOverFailed(protocol, address.ToString(), e.Message);
            stream.Reset();
            await stream.DisposeAsync().ConfigureAwait(false);
            return;
        }
        var bridge = StreamBridge.RunAsync(client, stream, lifetime.Token);
        lock (_gate) _bridges.Add(bridge);
        try
        {
            await bridge.ConfigureAwait(false);
        }
        finally
        {
            lock (_gate) _bridges.Remove(bridge);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Task[] bridges;
        lock (_gate)
        {
            if (_stopping.IsCancellationRequested) return;
            _stopping.Cancel();
            foreach (var (_, registration) in _handlers.Values) registration.Dispose();
            _handlers.Clear();
            bridges = [.. _bridges];
        }
        await Task.WhenAll(bridges).ConfigureAwait(false);
    }

    private sealed class ForwardingHandler(StreamHandlerRegistry registry, string protocol) : IProtocolHandler
    {
        public IReadOnlyList<string> Protocols { get; } = [protocol];

        public Task HandleAsync(IStream stream, CancellationToken cancellationToken) =>
            registry.HandOverAsync(protocol, stream, cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "inbound streams of {Protocols} go to the client at {Address}")]
    private partial void LogRegistered(string protocols, string address);

    [LoggerMessage(Level = LogLevel.Debug, Message = "could not hand an inbound {Protocol} stream to the client at {Address}: {Reason}")]
    private partial void LogHandOverFailed(string protocol, string address, string reason);
}
