using System.IO.Pipelines;
using System.Net.Sockets;
using P2PStack.Network;

namespace P2PStack.Daemon;

/// <summary>
/// Carries a libp2p stream over a control socket, both ways. A clean end of one direction is passed on as a half-close
/// (client end of input completes the stream's output; the stream's end of input shuts the socket's sending side); a
/// failure on either side resets the stream and aborts the socket, so neither end mistakes it for a clean end.
/// </summary>
internal static class StreamBridge
{
    public static async Task RunAsync(ControlConnection socket, IStream stream, CancellationToken cancellationToken)
    {
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var up = CopyAsync(socket.Reader, stream.Output, failed);
        var down = DownAsync(stream.Input, socket, failed);
        bool clean = await up.ConfigureAwait(false) & await down.ConfigureAwait(false);
        if (clean)
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            await socket.DisposeAsync().ConfigureAwait(false);
        }
        else
        {
            stream.Reset();
            await stream.DisposeAsync().ConfigureAwait(false);
            socket.Abort();
            await socket.DisposeAsync().ConfigureAwait(false);
        }
    }

    // Client -> peer. Returns false when it failed (and cancelled the other direction).
    private static async Task<bool> CopyAsync(PipeReader from, PipeWriter to, CancellationTokenSource failed)
    {
        try
        {
            await from.CopyToAsync(to, failed.Token).ConfigureAwait(false);
            await to.CompleteAsync().ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            await failed.CancelAsync().ConfigureAwait(false);
            return false;
        }
    }

    // Peer -> client.
    private static async Task<bool> DownAsync(PipeReader from, ControlConnection to, CancellationTokenSource failed)
    {
        try
        {
            await from.CopyToAsync(to.Writer, failed.Token).ConfigureAwait(false);
            await to.CloseWriteAsync(failed.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or ObjectDisposedException or InvalidOperationException)
        {
            await failed.CancelAsync().ConfigureAwait(false);
            return false;
        }
    }
}
