using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;
using P2PStack.Discovery.Signaling;
using P2PStack.Neural;
using SynapticMesh.Api;
using SynapticMesh.Cli;

namespace SynapticMesh.Commands;

/// <summary>
/// <c>p2p swarm peers &lt;name&gt; [--watch]</c>: the members of a joined swarm as this node's signaling knows them
/// (from their signed presence announcements), or with <c>--watch</c> the current members and then every
/// PeerAvailable/PeerLeft as it happens until Ctrl+C (JSON lines with <c>--json</c>).
/// </summary>
public static class SwarmPeersCommand
{
    /// <param name="Hosts">Signaling hosts that relay the peer (for peers without the DHT, such as browsers).</param>
    public sealed record SwarmPeer(string PeerId, DateTimeOffset Since, DateTimeOffset Until, IReadOnlyList<string> Addresses, IReadOnlyList<string> Hosts);

    public sealed record SwarmPeersResponse(string Swarm, IReadOnlyList<SwarmPeer> Peers);

    /// <param name="Event">member (present when watching began), available, or left.</param>
    /// <param name="Reason">For left: left (announced departure) or expired (no announcement before its until).</param>
    public sealed record SwarmPeerEvent(string Event, string Swarm, string PeerId, DateTimeOffset At, string? Reason = null,
        DateTimeOffset? Until = null, IReadOnlyList<string>? Hosts = null);

    public static Command Create(CommandContextFactory contexts)
    {
        var name = SwarmCommand.NameArgument();
        var watch = new Option<bool>("--watch") { Description = "Keep printing peers as they become available or leave (Ctrl+C to stop)" };
        var command = new Command("peers", "List a joined swarm's members, or watch them come and go") { name, watch };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            string swarm = SwarmCommand.CheckName(parse.GetValue(name)!);
            using var client = ControlClient.Open(context);
            if (!parse.GetValue(watch))
            {
                var result = await client.GetAsync<SwarmPeersResponse>($"v1/swarm/peers?name={Uri.EscapeDataString(swarm)}", cancellationToken);
                context.Output.Table(result, () =>
                {
                    var table = new Table("PEER ID", "SINCE", "UNTIL", "VIA");
                    foreach (var peer in result.Peers)
                        table.Add(peer.PeerId, $"{peer.Since.ToLocalTime():HH:mm:ss}", $"{peer.Until.ToLocalTime():HH:mm:ss}",
                            peer.Hosts.Count == 0 ? "-" : string.Join(",", peer.Hosts));
                    return table;
                }, $"{result.Peers.Count} peer{(result.Peers.Count == 1 ? "" : "s")} in swarm {result.Swarm}");
                return ExitCodes.Success;
            }
            try
            {
                await foreach (var e in client.StreamAsync<SwarmPeerEvent>($"v1/swarm/peers/watch?name={Uri.EscapeDataString(swarm)}",
                                   () => context.Output.Notice($"watching swarm {swarm} (Ctrl+C to stop)"), cancellationToken))
                    context.Output.ResultLine(e, text => text.WriteLine(Format(e)));
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
            }
            return ExitCodes.Success; // Ctrl+C, or the node left the swarm
        });
        return command;
    }

    public static string Format(SwarmPeerEvent e) =>
        $"{e.At.ToLocalTime():HH:mm:ss.fff} {e.Event,-9} {e.PeerId}"
        + (e.Reason is { } reason ? $" ({reason})" : "")
        + (e.Hosts is { Count: > 0 } hosts ? $" via {string.Join(",", hosts)}" : "");

    public static void MapEndpoint(IEndpointRouteBuilder routes)
    {
        routes.MapGet("/v1/swarm/peers", (string? name, SwarmSignaling signaling) =>
        {
            string swarm = Checked(name, signaling);
            return new SwarmPeersResponse(swarm, [.. signaling.GetMembers(swarm).OrderBy(m => m.Peer.ToString(), StringComparer.Ordinal).Select(ToPeer)]);
        });
        routes.MapGet("/v1/swarm/peers/watch", async (string? name, SwarmSignaling signaling, IHostApplicationLifetime lifetime, HttpContext http) =>
        {
            string swarm = Checked(name, signaling);
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted, lifetime.ApplicationStopping);
            SwarmWatcher watcher;
            try
            {
                watcher = signaling.Watch(swarm); // before the listing, so nothing falls between the two
            }
            catch (InvalidOperationException)
            {
                throw NotJoined(swarm);
            }
            using (watcher)
            {
                try
                {
                    var lines = await NdjsonResponse.StartAsync(http, stop.Token);
                    foreach (var member in signaling.GetMembers(swarm).OrderBy(m => m.Since))
                        await lines.WriteAsync(new SwarmPeerEvent("member", swarm, member.Peer.ToString(), member.Since, Until: member.Until,
                            Hosts: [.. member.Hosts.Select(h => h.ToString())]), stop.Token);
                    await foreach (var e in watcher.WithCancellation(stop.Token))
                    {
                        await lines.WriteAsync(e switch
                        {
                            PeerAvailable a => new SwarmPeerEvent("available", swarm, a.Peer.ToString(), a.At, Until: a.Member.Until,
                                Hosts: [.. a.Member.Hosts.Select(h => h.ToString())]),
                            PeerLeft l => new SwarmPeerEvent("left", swarm, l.Peer.ToString(), l.At, l.Reason == PeerLeftReason.Left ? "left" : "expired"),
                            _ => throw new System.Diagnostics.UnreachableException($"swarm event {e.GetType().Name}"),
                        }, stop.Token);
                    }
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    // The client went away or the node is stopping.
                }
            }
        });
    }

    private static string Checked(string? name, SwarmSignaling signaling)
    {
        string swarm = name ?? "";
        if (!NeuralProtocol.IsValidName(swarm)) throw ApiException.BadRequest($"'{swarm}' is not a swarm name");
        if (!signaling.JoinedSwarms.Contains(swarm)) throw NotJoined(swarm);
        return swarm;
    }

    private static ApiException NotJoined(string swarm) =>
        ApiException.NotFound($"this node has not joined swarm {swarm} (p2p swarm join {swarm})");

    private static SwarmPeer ToPeer(SwarmMember m) =>
        new(m.Peer.ToString(), m.Since, m.Until, [.. m.Addresses.Select(a => a.ToString())], [.. m.Hosts.Select(h => h.ToString())]);
}
