using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using P2PStack.Nat.Stun;

namespace P2PStack.Nat.TestNode;

/// <summary>STUN probes: <c>stun-binding --server ip:port [--local-port n] [--change ip,port]</c> and
/// <c>stun-discover --server ip:port</c>.</summary>
internal static class StunCommands
{
    private static StunClient Client(Arguments options) => new(Options.Create(new StunClientOptions
    {
        InitialRto = options.Duration("rto-ms", TimeSpan.FromMilliseconds(300)),
        Software = "P2PStack.Nat.TestNode",
    }));

    public static async Task<JsonObject> BindingAsync(Arguments options, CancellationToken cancellationToken)
    {
        var server = await StunClientOptions.ResolveAsync(options.Required("server"), cancellationToken);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Any, options.Int("local-port", 0)));
        var change = StunChangeRequest.None;
        foreach (string flag in (options.Get("change") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries))
            change |= flag == "ip" ? StunChangeRequest.ChangeIp : flag == "port" ? StunChangeRequest.ChangePort : throw new ArgumentException($"--change {flag}");
        var result = await Client(options).BindingAsync(socket, server, change, cancellationToken);
        return new JsonObject
        {
            ["localPort"] = ((IPEndPoint)socket.LocalEndPoint!).Port,
            ["mapped"] = result.Mapped.ToString(),
            ["responseOrigin"] = result.ResponseOrigin?.ToString(),
            ["otherAddress"] = result.OtherAddress?.ToString(),
            ["receivedFrom"] = result.ReceivedFrom.ToString(),
            ["software"] = result.Software,
            ["transmissions"] = result.Transmissions,
        };
    }

    public static async Task<JsonObject> DiscoverAsync(Arguments options, CancellationToken cancellationToken)
    {
        var server = await StunClientOptions.ResolveAsync(options.Required("server"), cancellationToken);
        var report = await new NatBehaviourDiscovery(Client(options)).DiscoverAsync(server, options.Int("local-port", 0), cancellationToken);
        return new JsonObject
        {
            ["local"] = report.Local.ToString(),
            ["mapped"] = report.Mapped?.ToString(),
            ["mapping"] = report.Mapping.ToString(),
            ["filtering"] = report.Filtering.ToString(),
            ["natType"] = report.TypeName,
            ["holePunchingPossible"] = report.HolePunchingPossible,
            ["notes"] = new JsonArray([.. report.Notes.Select(n => (JsonNode)n)]),
        };
    }
}
