using System.Net.Sockets;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using P2PStack.Addressing;
using P2PStack.Daemon.Pb;
using P2PStack.Encoding;
using P2PStack.IO;
using P2PStack.Network;
using P2PStack.Protocols.GossipSub;
using P2PStack.Protocols.Kademlia;

namespace P2PStack.Daemon;

/// <summary>
/// The control socket of the libp2p daemon (go-libp2p-daemon's control protocol): accepts client connections and
/// answers their requests against the host, its DHT and its pubsub router. A connection carries requests one after
/// the other until it becomes a stream (STREAM_OPEN) or a message feed (PUBSUB SUBSCRIBE). A bad request (unknown
/// type, malformed protobuf, missing or invalid field) gets an ERROR response; one over the size limit also ends its
/// connection (its end cannot be found). Neither affects other connections or the node.
/// </summary>
public sealed partial class DaemonControlServer : IAsyncDisposable
{
    private readonly IPeerHost _host;
    private readonly KademliaDht? _dht;
    private readonly GossipSubService? _pubsub;
    private readonly DaemonOptions _options;
    private readonly ILogger _logger;
    private readonly StreamHandlerRegistry _handlers;
    private readonly CancellationTokenSource _stopping = new();
    private readonly Lock _gate = new();
    private readonly HashSet<Task> _connections = [];
    private Socket? _listener;
    private Task _acceptLoop = Task.CompletedTask;
    private string? _unixPath;

    /// <param name="dht">The node's DHT, or null when the daemon runs without one (DHT requests are refused).</param>
    /// <param name="pubsub">The node's pubsub router, or null when the daemon runs without one.</param>
    public DaemonControlServer(IPeerHost host, DaemonOptions options, KademliaDht? dht = null, GossipSubService? pubsub = null,
        ILogger<DaemonControlServer>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _host = host;
        _options = options;
        _dht = dht;
        _pubsub = pubsub;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _handlers = new StreamHandlerRegistry(host, options, _logger);
    }

    /// <summary>The bound control socket address (with the real port); null before <see cref="Start"/>.</summary>
    public Multiaddr? ListenAddress { get; private set; }

    /// <summary>Control connections open now.</summary>
    public int ConnectionCount
    {
        get { lock (_gate) return _connections.Count; }
    }

    /// <summary>Binds the control socket and starts accepting clients.</summary>
    public void Start()
    {
        if (_listener is not null) throw new InvalidOperationException("the control server is already started");
        _listener = ControlEndpoint.Listen(_options.ControlAddress, _options.AllowNonLoopbackControl);
        ListenAddress = ControlEndpoint.ToMultiaddr(_listener.LocalEndPoint!);
        if (_listener.LocalEndPoint is UnixDomainSocketEndPoint unix) _unixPath = unix.ToString();
        _acceptLoop = AcceptLoopAsync(_listener, _stopping.Token);
        LogListening(ListenAddress.ToString());
    }

    private async Task AcceptLoopAsync(Socket listener, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                LogAcceptFailed(e.Message); // e.g. out of descriptors: keep serving the connections we have
                await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                continue;
            }
            if (client.ProtocolType == ProtocolType.Tcp) client.NoDelay = true;
            lock (_gate)
            {
                if (_connections.Count >= _options.MaxControlConnections)
                {
                    _ = RefuseAsync(client);
                    continue;
                }
                var task = ServeAsync(client, cancellationToken);
                _connections.Add(task);
                _ = task.ContinueWith(t =>
                {
                    lock (_gate) _connections.Remove(t);
                }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            }
        }
    }

    private async Task RefuseAsync(Socket client)
    {
        LogRefused(_options.MaxControlConnections);
        await using var connection = new ControlConnection(client);
        using var timeout = new CancellationTokenSource(_options.RequestReadTimeout);
        try
        {
            await connection.WriteErrorAsync($"too many control connections (limit {_options.MaxControlConnections})", timeout.Token)
                .ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
        {
        }
    }

    private async Task ServeAsync(Socket socket, CancellationToken cancellationToken)
    {
        await Task.Yield();
        var connection = new ControlConnection(socket);
        bool handedOver = false;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                Request? request;
                using (var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                {
                    idle.CancelAfter(_options.RequestReadTimeout);
                    try
                    {
                        request = await connection.ReadRequestAsync(_options.MaxRequestSize, idle.Token).ConfigureAwait(false);
                    }
                    catch (LengthPrefixException e)
                    {
                        LogBadRequest(e.Message);
                        await connection.WriteErrorAsync($"request too large: {e.Message}", cancellationToken).ConfigureAwait(false);
                        return; // the rest of the oversized message is still on the socket: this connection is done
                    }
                    catch (VarintException e)
                    {
                        LogBadRequest(e.Message);
                        await connection.WriteErrorAsync($"malformed request length: {e.Message}", cancellationToken).ConfigureAwait(false);
                        return;
                    }
                    catch (InvalidProtocolBufferException e)
                    {
                        // The frame was whole, so the next request can still be read.
                        LogBadRequest(e.Message);
                        await connection.WriteErrorAsync($"malformed request: {e.Message}", cancellationToken).ConfigureAwait(false);
                        continue;
                    }
                    catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                    {
                        return; // idle too long
                    }
                }
                if (request is null) return; // the client closed the connection
                var outcome = await HandleAsync(request, connection, cancellationToken).ConfigureAwait(false);
                if (outcome == Outcome.HandedOver)
                {
                    handedOver = true;
                    return;
                }
                if (outcome == Outcome.Done) return;
            }
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The client went away, or the daemon is stopping.
        }
        catch (Exception e)
        {
            LogConnectionFailed(e);
        }
        finally
        {
            if (!handedOver) await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>What became of a connection after a request.</summary>
    private enum Outcome
    {
        /// <summary>Answered; the next request may follow on the same connection.</summary>
        Continue,
        /// <summary>Answered with a streamed reply that ended; the connection is closed.</summary>
        Done,
        /// <summary>The connection became a stream or a feed, owned (and closed) by whoever runs it.</summary>
        HandedOver,
    }

    private async Task<Outcome> HandleAsync(Request request, ControlConnection connection, CancellationToken cancellationToken)
    {
        if (!request.HasType)
        {
            await connection.WriteErrorAsync("invalid request: type is missing", cancellationToken).ConfigureAwait(false);
            return Outcome.Continue;
        }
        try
        {
            switch (request.Type)
            {
                case Request.Types.Type.Identify:
                    await connection.WriteAsync(Identify(), cancellationToken).ConfigureAwait(false);
                    return Outcome.Continue;
                case Request.Types.Type.Connect:
                    await ConnectAsync(RequestFields.Require(request.Connect, "connect"), cancellationToken).ConfigureAwait(false);
                    await connection.WriteAsync(Responses.Ok(), cancellationToken).ConfigureAwait(false);
                    return Outcome.Continue;
                case Request.Types.Type.Disconnect:
                    await DisconnectAsync(RequestFields.Require(request.Disconnect, "disconnect"), cancellationToken).ConfigureAwait(false);
                    await connection.WriteAsync(Responses.Ok(), cancellationToken).ConfigureAwait(false);
                    return Outcome.Continue;
                case Request.Types.Type.ListPeers:
                    await connection.WriteAsync(ListPeers(), cancellationToken).ConfigureAwait(false);
                    return Outcome.Continue;
                case Request.Types.Type.StreamOpen:
                    return await StreamOpenAsync(RequestFields.Require(request.StreamOpen, "streamOpen"), connection, cancellationToken)
                        .ConfigureAwait(false);
                case Request.Types.Type.StreamHandler:
                    RegisterStreamHandler(RequestFields.Require(request.StreamHandler, "streamHandler"));
                    await connection.WriteAsync(Responses.Ok(), cancellationToken).ConfigureAwait(false);
                    return Outcome.Continue;
                case Request.Types.Type.Dht:
                    return await HandleDhtAsync(RequestFields.Require(request.Dht, "dht"), connection, cancellationToken).ConfigureAwait(false);
                case Request.Types.Type.Pubsub:
                    return await HandlePubSubAsync(RequestFields.Require(request.Pubsub, "pubsub"), connection, cancellationToken)
                        .ConfigureAwait(false);
                case Request.Types.Type.Peerstore:
                    await connection.WriteAsync(PeerStore(RequestFields.Require(request.PeerStore, "peerStore")), cancellationToken)
                        .ConfigureAwait(false);
                    return Outcome.Continue;
                case Request.Types.Type.Connmanager:
                    await ConnManagerAsync(RequestFields.Require(request.ConnManager, "connManager"), cancellationToken).ConfigureAwait(false);
                    await connection.WriteAsync(Responses.Ok(), cancellationToken).ConfigureAwait(false);
                    return Outcome.Continue;
                default:
                    throw new DaemonRequestException($"unknown request type {(int)request.Type}");
            }
        }
        catch (Exception e) when (IsRequestFailure(e, cancellationToken))
        {
            LogRequestFailed(request.Type.ToString(), e.Message);
            await connection.WriteErrorAsync(ErrorMessage(e), cancellationToken).ConfigureAwait(false);
            return Outcome.Continue;
        }
    }

    // Failures of the operation a request asked for (bad input, unreachable peer, DHT miss, the request's own timeout)
    // are answers, not faults; the daemon stopping or the client leaving are not.
    private static bool IsRequestFailure(Exception e, CancellationToken stopping) => e switch
    {
        OperationCanceledException => !stopping.IsCancellationRequested,
        OutOfMemoryException => false,
        SocketException => false,
        _ => true,
    };

    private static string ErrorMessage(Exception e) => e switch
    {
        DaemonRequestException => e.Message,
        OperationCanceledException => "timed out",
        P2PFormatException or IOException or InvalidOperationException or ArgumentException or DhtNotFoundException => e.Message,
        _ => $"{e.GetType().Name}: {e.Message}",
    };

    /// <summary>Stops accepting, ends every control connection and client stream, and removes the unix socket file.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested) return;
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        await _acceptLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        Task[] open;
        lock (_gate) open = [.. _connections];
        await Task.WhenAll(open).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await _handlers.DisposeAsync().ConfigureAwait(false);
        if (_unixPath is not null)
        {
            try
            {
                File.Delete(_unixPath);
            }
            catch (IOException)
            {
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "daemon control socket listening on {Address}")]
    private partial void LogListening(string address);

    [LoggerMessage(Level = LogLevel.Warning, Message = "control socket accept failed: {Reason}")]
    private partial void LogAcceptFailed(string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "control connection refused: {Limit} connections open already")]
    private partial void LogRefused(int limit);

    [LoggerMessage(Level = LogLevel.Debug, Message = "bad control request: {Reason}")]
    private partial void LogBadRequest(string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "control request {Type} failed: {Reason}")]
    private partial void LogRequestFailed(string type, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "control connection failed")]
    private partial void LogConnectionFailed(Exception error);
}
