using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using P2PStack.Network;
using P2PStack.Protocols.Perf;
using SynapticMesh.Api;
using SynapticMesh.Cli;

namespace SynapticMesh.Commands;

/// <summary><c>p2p perf &lt;multiaddr&gt; --upload SIZE --download SIZE</c>: a /perf/1.0.0 throughput run.</summary>
public static class PerfCommand
{
    public sealed record PerfRequest(string Target, ulong UploadBytes, ulong DownloadBytes);

    public sealed record PerfResponse(string PeerId, ulong UploadBytes, ulong DownloadBytes, double Seconds,
        double UploadSeconds, double DownloadSeconds, double UploadGbps, double DownloadGbps);

    public static Command Create(CommandContextFactory contexts)
    {
        var target = new Argument<string>("multiaddr") { Description = "Multiaddr (or peer id) of a peer serving /perf/1.0.0" };
        var upload = new Option<ulong>("--upload")
        {
            Description = "Bytes to send (a number, or with a unit: 64KiB, 10MB, 1GiB)", Required = true, CustomParser = ByteSize.Parse,
        };
        var download = new Option<ulong>("--download")
        {
            Description = "Bytes to receive (a number, or with a unit: 64KiB, 10MB, 1GiB)", Required = true, CustomParser = ByteSize.Parse,
        };
        var command = new Command("perf", "Measure throughput to a peer") { target, upload, download };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            string peer = parse.GetValue(target)!;
            PeerTargets.Validate(peer, allowPeerId: true);
            using var client = ControlClient.Open(context);
            PerfResponse result;
            await using (context.Output.Progress($"perf with {peer}: sending {parse.GetValue(upload)} bytes, receiving {parse.GetValue(download)} bytes"))
                result = await client.PostAsync<PerfRequest, PerfResponse>("v1/perf",
                    new PerfRequest(peer, parse.GetValue(upload), parse.GetValue(download)), cancellationToken);
            context.Output.Result(result, text =>
            {
                text.WriteLine($"perf with {result.PeerId}:");
                text.WriteLine($"  upload:   {result.UploadBytes} bytes in {result.UploadSeconds:0.###} s = {result.UploadGbps:0.####} Gbit/s");
                text.WriteLine($"  download: {result.DownloadBytes} bytes in {result.DownloadSeconds:0.###} s = {result.DownloadGbps:0.####} Gbit/s");
                text.WriteLine($"  total:    {result.Seconds:0.###} s");
            });
            return ExitCodes.Success;
        });
        return command;
    }

    public static void MapEndpoint(IEndpointRouteBuilder routes) =>
        routes.MapPost("/v1/perf", async (PerfRequest request, IPeerHost host, PerfService perf, HttpContext http) =>
        {
            using var scope = ControlApi.OperationScope(http);
            var connection = await PeerTargets.ConnectAsync(host, request.Target, scope.Token);
            var result = await perf.RunAsync(connection.RemotePeer, request.UploadBytes, request.DownloadBytes, scope.Token);
            return new PerfResponse(connection.RemotePeer.ToString(), result.UploadBytes, result.DownloadBytes, result.Total.TotalSeconds,
                result.UploadTime.TotalSeconds, result.DownloadTime.TotalSeconds, result.UploadGbps, result.DownloadGbps);
        });
}
