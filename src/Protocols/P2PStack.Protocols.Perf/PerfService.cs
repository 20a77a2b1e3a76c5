using System.Diagnostics;
using P2PStack.Identity;
using P2PStack.Network;

namespace P2PStack.Protocols.Perf;

/// <summary>The result of one perf run: bytes moved each way and the time each phase took.</summary>
public sealed record PerfResult(ulong UploadBytes, ulong DownloadBytes, TimeSpan UploadTime, TimeSpan DownloadTime)
{
    public TimeSpan Total => UploadTime + DownloadTime;

    public double UploadGbps => Gbps(UploadBytes, UploadTime);

    public double DownloadGbps => Gbps(DownloadBytes, DownloadTime);

    private static double Gbps(ulong bytes, TimeSpan time) => time > TimeSpan.Zero ? bytes * 8 / time.TotalSeconds / 1e9 : 0;
}

/// <summary>Runs the <c>/perf/1.0.0</c> client against a peer.</summary>
public sealed class PerfService(IPeerHost host)
{
    public async Task<PerfResult> RunAsync(PeerId peer, ulong uploadBytes, ulong downloadBytes, CancellationToken cancellationToken)
    {
        var stream = await host.OpenStreamAsync(peer, [PerfProtocol.Id], cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            long start = Stopwatch.GetTimestamp();
            await PerfProtocol.WriteSizeAsync(stream.Output, downloadBytes, cancellationToken).ConfigureAwait(false);
            await PerfProtocol.WriteBytesAsync(stream.Output, uploadBytes, cancellationToken).ConfigureAwait(false);
            await stream.Output.CompleteAsync().ConfigureAwait(false);
            // The server answers only after it drained the whole upload, so the first answer (bytes or end of stream)
            // marks the end of the upload phase as the server saw it.
            var first = await stream.Input.ReadAsync(cancellationToken).ConfigureAwait(false);
            var uploadTime = Stopwatch.GetElapsedTime(start);
            long downloadStart = Stopwatch.GetTimestamp();
            ulong received = (ulong)first.Buffer.Length;
            stream.Input.AdvanceTo(first.Buffer.End);
            if (!first.IsCompleted)
                received += await PerfProtocol.DrainAsync(stream.Input, cancellationToken).ConfigureAwait(false);
            var downloadTime = Stopwatch.GetElapsedTime(downloadStart);
            if (received != downloadBytes)
                throw new InvalidDataException($"perf: asked for {downloadBytes} bytes but received {received}");
            return new PerfResult(uploadBytes, received, uploadTime, downloadTime);
        }
    }
}
