using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using P2PStack.Identity;
using P2PStack.Trust;
using SynapticMesh.Api;
using SynapticMesh.Cli;
using SynapticMesh.Home;

namespace SynapticMesh.Commands;

/// <summary>
/// <c>p2p peer trust &lt;peer id&gt; [--name N]</c>, <c>p2p peer revoke &lt;peer id&gt; [--reason R]</c>, <c>p2p peer list</c>:
/// the trust store. Through the running node when there is one (a revocation closes the peer's connections at once),
/// else on the trust store file directly.
/// </summary>
public static class PeerCommand
{
    public sealed record TrustRequest(string PeerId, string? Name);

    public sealed record RevokeRequest(string PeerId, string? Reason);

    public sealed record TrustedEntry(string PeerId, string? Name, string Method, DateTimeOffset TrustedAt);

    public sealed record RevokedEntry(string PeerId, string? Reason, DateTimeOffset RevokedAt);

    public sealed record PeerList(IReadOnlyList<TrustedEntry> Trusted, IReadOnlyList<RevokedEntry> Revoked);

    public static Command Create(CommandContextFactory contexts)
    {
        var command = new Command("peer", "Trust, revoke and list peers (the trust store)");
        command.Subcommands.Add(CreateTrust(contexts));
        command.Subcommands.Add(CreateRevoke(contexts));
        command.Subcommands.Add(CreateList(contexts));
        return command;
    }

    private static Argument<string> PeerArgument() => new("peer-id") { Description = "The peer's id" };

    private static void ValidatePeer(string text)
    {
        if (!PeerId.TryParse(text, out _)) throw new CliException($"'{text}' is not a peer id", ExitCodes.Usage);
    }

    private static Command CreateTrust(CommandContextFactory contexts)
    {
        var peer = PeerArgument();
        var name = new Option<string?>("--name") { Description = "A name for the peer (unique; moves from another peer)" };
        var command = new Command("trust", "Trust a peer (lifts a revocation)") { peer, name };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            var request = new TrustRequest(parse.GetValue(peer)!, parse.GetValue(name));
            ValidatePeer(request.PeerId);
            var result = await RunAsync(context.NodeHome, client => client.PostAsync<TrustRequest, TrustedEntry>("v1/peers/trust", request, cancellationToken),
                store => Trust(store, request));
            context.Output.Result(result, text => text.WriteLine($"trusted {result.PeerId}{(result.Name is null ? "" : $" as {result.Name}")}"));
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command CreateRevoke(CommandContextFactory contexts)
    {
        var peer = PeerArgument();
        var reason = new Option<string?>("--reason") { Description = "Why (kept with the revocation)" };
        var command = new Command("revoke", "Revoke a peer: refused from now on, its connections closed") { peer, reason };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            var request = new RevokeRequest(parse.GetValue(peer)!, parse.GetValue(reason));
            ValidatePeer(request.PeerId);
            var result = await RunAsync(context.NodeHome, client => client.PostAsync<RevokeRequest, RevokedEntry>("v1/peers/revoke", request, cancellationToken),
                store => Revoke(store, request));
            context.Output.Result(result, text => text.WriteLine($"revoked {result.PeerId}{(result.Reason is null ? "" : $": {result.Reason}")}"));
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command CreateList(CommandContextFactory contexts)
    {
        var command = new Command("list", "List trusted and revoked peers");
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            var result = await RunAsync(context.NodeHome, client => client.GetAsync<PeerList>("v1/peers", cancellationToken), List);
            context.Output.Result(result, text =>
            {
                text.WriteLine($"trusted ({result.Trusted.Count}):");
                foreach (var t in result.Trusted)
                    text.WriteLine($"  {t.PeerId}  {t.Name ?? "-"}  {t.Method}  {t.TrustedAt:u}");
                text.WriteLine($"revoked ({result.Revoked.Count}):");
                foreach (var r in result.Revoked)
                    text.WriteLine($"  {r.PeerId}  {r.RevokedAt:u}  {r.Reason ?? "-"}");
            });
            return ExitCodes.Success;
        });
        return command;
    }

    /// <summary>Through the running node, else on the store file.</summary>
    private static async Task<T> RunAsync<T>(NodeHome home, Func<ControlClient, Task<T>> online, Func<TrustStore, T> offline)
    {
        if (ApiEndpointFile.TryLoad(home) is not null)
        {
            using var client = ControlClient.Open(home);
            return await online(client);
        }
        if (!home.HasIdentity) throw new CliException($"{home.Directory} is not initialised; run `synaptic-mesh p2p init` first");
        using var store = new TrustStore(new TrustOptions { DatabasePath = home.TrustStorePath });
        try
        {
            return offline(store);
        }
        catch (ArgumentException e)
        {
            throw new CliException(e.Message, ExitCodes.Usage, e);
        }
    }

    private static TrustedEntry Trust(TrustStore store, TrustRequest request)
    {
        var peer = PeerId.TryParse(request.PeerId, out var id) ? id : throw new ApiException(400, $"'{request.PeerId}' is not a peer id");
        var trusted = store.Trust(peer, request.Name);
        return new TrustedEntry(trusted.Peer.ToString(), trusted.Name, trusted.Method.ToString().ToLowerInvariant(), trusted.TrustedAt);
    }

    private static RevokedEntry Revoke(TrustStore store, RevokeRequest request)
    {
        var peer = PeerId.TryParse(request.PeerId, out var id) ? id : throw new ApiException(400, $"'{request.PeerId}' is not a peer id");
        var revoked = store.Revoke(peer, request.Reason);
        return new RevokedEntry(revoked.Peer.ToString(), revoked.Reason, revoked.RevokedAt);
    }

    private static PeerList List(TrustStore store) => new(
        [.. store.ListTrusted().Select(t => new TrustedEntry(t.Peer.ToString(), t.Name, t.Method.ToString().ToLowerInvariant(), t.TrustedAt))],
        [.. store.ListRevoked().Select(r => new RevokedEntry(r.Peer.ToString(), r.Reason, r.RevokedAt))]);

    public static void MapEndpoints(IEndpointRouteBuilder routes)
    {
        routes.MapPost("/v1/peers/trust", (TrustRequest request, TrustStore store) => Trust(store, request));
        routes.MapPost("/v1/peers/revoke", (RevokeRequest request, TrustStore store) => Revoke(store, request));
        routes.MapGet("/v1/peers", (TrustStore store) => List(store));
    }
}
