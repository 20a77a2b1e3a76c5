using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using P2PStack.Network;
using P2PStack.Protocols.Ping;
using SynapticMesh.Api;
using SynapticMesh.Cli;

namespace SynapticMesh.Commands;

/// <summary><c>p2p connect &lt;multiaddr&gt; [--setup-samples N]</c>: dials a peer and measures one round trip; with
/// <c>--setup-samples</c> it also times N new connections from the dial to the first ping.</summary>
public static class ConnectCommand
{
    /// <summary><paramref name="SetupSamples"/>: new connections to time (0: none).</summary>
    public sealed record ConnectRequest(string Address, int SetupSamples = 0);

    /// <summary><paramref name="DialMs"/> and <paramref name="SetupMs"/>: per timed new connection, the dial (transport,
    /// security, muxer) and the dial to the first ping round trip completed; null when none were asked for.
    /// <paramref name="Filters"/>: the secured-connection filters the connection runs (padding).</summary>
    public sealed record ConnectResponse(string PeerId, string Address, string SecurityProtocol, string Muxer, string Transport, double? LatencyMs,
        IReadOnlyList<double>? DialMs = null, IReadOnlyList<double>? SetupMs = null, IReadOnlyList<string>? Filters = null);

    public static Command Create(CommandContextFactory contexts)
    {
        var address = new Argument<string>("multiaddr") { Description = "Address of the peer, e.g. /ip4/1.2.3.4/tcp/9000/p2p/12D3..." };
        var samples = new Option<int>("--setup-samples")
        {
            Description = $"Also time this many new connections (dial to first ping), each closed before the next (at most {MaxSetupSamples})",
        };
        samples.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() is < 0 or > MaxSetupSamples) r.AddError($"--setup-samples must be 0 to {MaxSetupSamples}");
        });
        var command = new Command("connect", "Connect to a peer") { address, samples };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            string target = parse.GetValue(address)!;
            PeerTargets.Validate(target, allowPeerId: false);
            using var client = ControlClient.Open(context);
            var result = await client.PostAsync<ConnectRequest, ConnectResponse>("v1/connect",
                new ConnectRequest(target, parse.GetValue(samples)), cancellationToken);
            context.Output.Result(result, text =>
            {
                text.WriteLine($"connected to {result.PeerId}");
                text.WriteLine($"  address:  {result.Address}");
                text.WriteLine($"  security: {result.SecurityProtocol}, muxer: {result.Muxer}, transport: {result.Transport}");
                if (result.Filters is { Count: > 0 } filters) text.WriteLine($"  filters:  {string.Join(", ", filters)}");
                text.WriteLine($"  latency:  {(result.LatencyMs is { } ms ? $"{ms:0.###} ms" : "not measured (peer does not serve ping)")}");
                if (result.SetupMs is { Count: > 0 } setup)
                {
                    var sorted = setup.Order().ToArray();
                    text.WriteLine($"  setup:    {sorted.Length} new connections, dial to first ping: min {sorted[0]:0.###} ms, " +
                        $"median {sorted[sorted.Length / 2]:0.###} ms, max {sorted[^1]:0.###} ms");
                }
            });
            return ExitCodes.Success;
        });
        return command;
    }

    public static void MapEndpoint(IEndpointRouteBuilder routes) =>
        routes.MapPost("/v1/connect", async (ConnectRequest request, IPeerHost host, PingService ping, ILoggerFactory logs, HttpContext http) =>
        {
            if (request.SetupSamples is < 0 or > MaxSetupSamples)
                throw new ApiException(400, $"setupSamples must be 0 to {MaxSetupSamples}");
            using var scope = ControlApi.OperationScope(http);
            var (dialMs, setupMs) = request.SetupSamples > 0
                ? await TimeSetupAsync(host, ping, request.Address, request.SetupSamples, scope.Token)
                : (null, null);
            var connection = await PeerTargets.ConnectAsync(host, request.Address, scope.Token);
            double? latency = null;
            try
            {
                // One ping fills the peer store's latency statistics that status shows.
                var rtts = await ping.PingAsync(connection.RemotePeer, 1, scope.Token);
                latency = rtts[0].TotalMilliseconds;
            }
            catch (Exception e) when (e is ProtocolNotSupportedException or IOException or InvalidDataException)
            {
                logs.CreateLogger("SynapticMesh.Connect").LogInformation("no latency sample from {Peer}: {Reason}", connection.RemotePeer, e.Message);
            }
            return new ConnectResponse(connection.RemotePeer.ToString(), connection.RemoteAddress.ToString(),
                connection.SecurityProtocol, connection.Muxer, connection.Transport, latency, dialMs, setupMs, connection.Filters);
        });

    /// <summary>Most new connections one request may time.</summary>
    public const int MaxSetupSamples = 1000;

    /// <summary>
    /// Times <paramref name="count"/> new connections one after the other: from the dial (TCP connect, multistream-select,
    /// security handshake, muxer) to the first ping round trip on a new stream; each is closed before the next, so
    /// every sample is a connection setup, not the reuse of an existing connection.
    /// </summary>
    private static async Task<(IReadOnlyList<double>, IReadOnlyList<double>)> TimeSetupAsync(IPeerHost host, PingService ping,
        string target, int count, CancellationToken cancellationToken)
    {
        var fresh = new DialOptions { ForceNewConnection = true };
        var dialMs = new List<double>(count);
        var setupMs = new List<double>(count);
        for (int i = 0; i < count; i++)
        {
            long start = System.Diagnostics.Stopwatch.GetTimestamp();
            var connection = await PeerTargets.ConnectAsync(host, target, fresh, cancellationToken);
            dialMs.Add(System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            try
            {
                var stream = await connection.OpenStreamAsync([PingProtocol.Id], cancellationToken);
                await using (stream.ConfigureAwait(false))
                {
                    await ping.PingAsync(stream, 1, cancellationToken);
                    setupMs.Add(System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                    // Measured; a reset ends the stream without waiting for the remote's end of it.
                    stream.Reset();
                }
            }
            finally
            {
                await connection.CloseAsync(cancellationToken);
            }
        }
        return (dialMs, setupMs);
    }
}
