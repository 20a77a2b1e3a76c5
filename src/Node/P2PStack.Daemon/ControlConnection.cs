using System.IO.Pipelines;
using System.Net.Sockets;
using Google.Protobuf;
using P2PStack.Daemon.Pb;
using P2PStack.IO;

namespace P2PStack.Daemon;

/// <summary>
/// One socket of the control protocol (a client's control connection, or the daemon's connection to a client's stream
/// handler): varint-length-prefixed protobuf messages, then possibly raw stream bytes. The reader is kept for the
/// connection's life, so bytes a client sent right behind its request are not lost when the socket becomes a stream.
/// </summary>
internal sealed class ControlConnection : IAsyncDisposable
{
    private readonly NetworkStream _stream;
    private int _disposed;

    public ControlConnection(Socket socket)
    {
        Socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: false);
        Reader = PipeReader.Create(_stream, new StreamPipeReaderOptions(leaveOpen: true));
        Writer = PipeWriter.Create(_stream, new StreamPipeWriterOptions(leaveOpen: true));
    }

    public Socket Socket { get; }

    public PipeReader Reader { get; }

    public PipeWriter Writer { get; }

    /// <summary>Reads the next request; null when the client closed the connection between requests.</summary>
    /// <exception cref="LengthPrefixException">The request is longer than <paramref name="maxSize"/>.</exception>
    /// <exception cref="InvalidProtocolBufferException">The request is not a valid <see cref="Request"/>.</exception>
    public async ValueTask<Request?> ReadRequestAsync(int maxSize, CancellationToken cancellationToken)
    {
        using var message = await LengthPrefixed.ReadMessageOrEndAsync(Reader, maxSize, cancellationToken).ConfigureAwait(false);
        return message is null ? null : Request.Parser.ParseFrom(message.Span);
    }

    /// <summary>Writes one length-prefixed message and flushes it.</summary>
    public async ValueTask WriteAsync(IMessage message, CancellationToken cancellationToken)
    {
        LengthPrefixed.WriteMessage(Writer, message);
        await Writer.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    public ValueTask WriteErrorAsync(string message, CancellationToken cancellationToken) =>
        WriteAsync(Responses.Error(message), cancellationToken);

    /// <summary>Ends our sending direction (the peer reads end of stream); reading goes on.</summary>
    public async ValueTask CloseWriteAsync(CancellationToken cancellationToken)
    {
        await Writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            Socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // already reset by the client
        }
    }

    /// <summary>Tears the connection down with a reset, so the other side sees an error and not a clean end.</summary>
    public void Abort()
    {
        try
        {
            Socket.LingerState = new LingerOption(true, 0);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }
        Socket.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        try
        {
            await Writer.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            // the unsent rest goes with the socket
        }
        await Reader.CompleteAsync().ConfigureAwait(false);
        await _stream.DisposeAsync().ConfigureAwait(false);
        Socket.Dispose();
    }
}
