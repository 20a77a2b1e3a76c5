using System.Buffers;
using System.Net.Sockets;
using System.Net.WebSockets;
using P2PStack.Network;
using P2PStack.Transports.Tcp;
using WebSocketClass = System.Net.WebSockets.WebSocket;

namespace P2PStack.Transports.WebSocket;

/// <summary>
/// A WebSocket carrying a byte stream in binary messages (as js-libp2p's websockets transport does): message
/// boundaries mean nothing. Completing <see cref="PipedConnection.Output"/> sends a Close frame, which per RFC 6455
/// ends only our direction; the remote may keep sending until it closes too.
/// </summary>
internal sealed class WebSocketConnection : PipedConnection
{
    private readonly WebSocketClass _webSocket;
    private readonly Socket _socket;
    private readonly IDisposable? _owner;

    public WebSocketConnection(WebSocketClass webSocket, Socket socket, Direction direction, TcpTransportOptions options, IDisposable? owner = null,
        bool secure = false, IAdmissionTicket? admission = null)
        : base(
            direction,
            WebSocketAddresses.WithWs(TcpAddresses.FromEndPoint(socket.LocalEndPoint), secure),
            WebSocketAddresses.WithWs(TcpAddresses.FromEndPoint(socket.RemoteEndPoint), secure),
            options)
    {
        _webSocket = webSocket;
        _socket = socket;
        _owner = owner;
        Admission = admission;
        Start();
    }

    /// <summary>The host's admission, obtained before the HTTP upgrade.</summary>
    public IAdmissionTicket? Admission { get; }

    protected override async ValueTask<int> ReceiveAsync(Memory<byte> buffer)
    {
        while (true)
        {
            ValueWebSocketReceiveResult received = await _webSocket.ReceiveAsync(buffer, CancellationToken.None).ConfigureAwait(false);
            if (received.MessageType == WebSocketMessageType.Close) return 0; // the remote closed its direction
            if (received.MessageType != WebSocketMessageType.Binary)
                throw new IOException($"{RemoteAddress} sent a text WebSocket message; libp2p uses binary messages only");
            if (received.Count > 0) return received.Count; // an empty binary message carries nothing: read on
        }
    }

    protected override async ValueTask SendAsync(ReadOnlySequence<byte> buffer)
    {
        foreach (ReadOnlyMemory<byte> segment in buffer)
        {
            await _webSocket.SendAsync(segment, WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None).ConfigureAwait(false);
        }
    }

    protected override ValueTask CloseOutputAsync() =>
        new(_webSocket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None));

    protected override IOException TranslateError(Exception e, string operation) => e switch
    {
        WebSocketException { WebSocketErrorCode: WebSocketError.ConnectionClosedPrematurely } =>
            new IOException($"connection to {RemoteAddress} was closed without a WebSocket close (reset)", e),
        _ => new IOException($"WebSocket {operation} failed on the connection to {RemoteAddress}: {e.Message}", e),
    };

    protected override void ResetTransport()
    {
        SocketOptions.Reset(_socket);
        _webSocket.Abort();
    }

    protected override void ReleaseTransport()
    {
        _webSocket.Dispose();
        _socket.Dispose();
    }

    protected override void OnClosed()
    {
        _owner?.Dispose();
        Admission?.Dispose(); // returned unless the host took the connection over
    }
}
