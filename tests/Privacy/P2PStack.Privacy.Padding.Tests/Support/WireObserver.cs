using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace P2PStack.Privacy.Padding.Tests;

/// <summary>
/// An on-path observer: a TCP forwarder on loopback between a client and a server that records every byte each side
/// sends, as anyone on the path sees them. Parses the stream as an observer can: multistream-select lines in clear,
/// then Noise messages behind their 2-byte lengths.
/// </summary>
public sealed class WireObserver : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Func<IPEndPoint> _server;
    private readonly CancellationTokenSource _stop = new();
    private readonly MemoryStream _fromClient = new();
    private readonly MemoryStream _fromServer = new();
    private readonly List<Socket> _sockets = [];
    private readonly Task _run;

    public WireObserver(IPEndPoint server)
        : this(() => server)
    {
    }

    /// <summary>An observer whose server is known only once the observer's own port is (a server that announces the
    /// observer's address as its own): <paramref name="server"/> is asked when the client connects.</summary>
    public WireObserver(Func<IPEndPoint> server)
    {
        _server = server;
        _listener.Start();
        _run = RunAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Bytes the client sent so far.</summary>
    public byte[] FromClient
    {
        get { lock (_fromClient) return _fromClient.ToArray(); }
    }

    /// <summary>Bytes the server sent so far.</summary>
    public byte[] FromServer
    {
        get { lock (_fromServer) return _fromServer.ToArray(); }
    }

    private async Task RunAsync()
    {
        try
        {
            var client = await _listener.AcceptSocketAsync(_stop.Token);
            var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            client.NoDelay = true;
            lock (_sockets) _sockets.AddRange([client, server]);
            await server.ConnectAsync(_server(), _stop.Token);
            await Task.WhenAll(PumpAsync(client, server, _fromClient), PumpAsync(server, client, _fromServer));
        }
        catch (Exception) when (_stop.IsCancellationRequested)
        {
        }
    }

    private async Task PumpAsync(Socket from, Socket to, MemoryStream record)
    {
        var buffer = new byte[128 * 1024];
        try
        {
            while (true)
            {
                int read = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                if (read == 0)
                {
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }
                lock (record) record.Write(buffer, 0, read);
                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _stop.Token);
            }
        }
        catch (Exception) when (_stop.IsCancellationRequested)
        {
        }
        catch (SocketException)
        {
        }
    }

    /// <summary>
    /// The Noise messages in <paramref name="stream"/> after the multistream-select lines and
    /// <paramref name="handshakeMessages"/> handshake messages: each transport message's length on the wire (2-byte
    /// length prefix excluded). A partial last message is left out.
    /// </summary>
    public static List<int> TransportMessages(byte[] stream, int handshakeMessages)
    {
        int offset = 0;
        // Multistream-select: varint length, then "/...\n".
        while (offset < stream.Length && stream[offset] is > 1 and < 0x80 && offset + 1 + stream[offset] <= stream.Length
               && stream[offset + 1] == (byte)'/' && stream[offset + stream[offset]] == (byte)'\n')
        {
            offset += 1 + stream[offset];
        }
        var messages = new List<int>();
        int seen = 0;
        while (offset + 2 <= stream.Length)
        {
            int length = BinaryPrimitives.ReadUInt16BigEndian(stream.AsSpan(offset));
            if (offset + 2 + length > stream.Length) break;
            if (seen++ >= handshakeMessages) messages.Add(length);
            offset += 2 + length;
        }
        return messages;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        lock (_sockets)
        {
            foreach (var socket in _sockets) socket.Dispose();
        }
        await _run;
        _stop.Dispose();
    }
}
