using System.CommandLine;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using P2PStack.Privacy.ShadowAddresses;
using P2PStack.Privacy.ShadowAddresses.Service;
using P2PStack.Protocols.Kademlia;
using SynapticMesh.Api;
using SynapticMesh.Cli;

namespace SynapticMesh.Commands;

/// <summary>
/// <c>p2p shadow --operation generate|rotate|list|resolve|revoke [--address A]</c>: the node's shadow addresses
/// (docs/specs/shadow.md). generate, rotate, list and revoke manage the pool of a node initialised with
/// <c>--shadow</c> (and wait for the first publication of a new address); resolve fetches, checks and decrypts an
/// address's descriptor from the DHT on any node.
/// </summary>
public static class ShadowCommand
{
    public static readonly string[] Operations = ["generate", "rotate", "list", "resolve", "revoke"];

    public sealed record AddressRequest(string? Address);

    /// <summary>The last publication of an address: the period, how many DHT peers stored it, its expiry, or the error.</summary>
    public sealed record PublicationInfo(ulong Period, DateTimeOffset At, int StoredOn, int IntroductionPoints, DateTimeOffset? Expires, string? Error);

    public sealed record AddressInfo(string Address, string Multiaddr, string State, DateTimeOffset Created, long Uses, DateTimeOffset RotateAt,
        DateTimeOffset? RetiresAt, PublicationInfo? Publication);

    public sealed record RotateResponse(AddressInfo Old, AddressInfo New);

    /// <param name="RetirementRecords">How many of the address's descriptors (one per period still stored) a retirement
    /// record superseded.</param>
    /// <param name="RetirementStoredOn">The fewest DHT peers that stored one of them (0: none stored yet; retried).</param>
    public sealed record RevokeResponse(string Address, bool Revoked, int RetirementRecords, int RetirementStoredOn);

    public sealed record IntroductionPointInfo(string Relay, IReadOnlyList<string> Addresses);

    public sealed record ResolveResponse(string Address, ulong Period, IReadOnlyList<IntroductionPointInfo> IntroductionPoints);

    public static Command Create(CommandContextFactory contexts)
    {
        var operation = new Option<string>("--operation") { Description = "generate (adds an address to the pool: init creates the first, at most 100 active), rotate, list, resolve or revoke", Required = true };
        operation.AcceptOnlyFromAmong(Operations);
        var address = new Option<string?>("--address") { Description = "The shadow address (shadow:..., its text, or /shadow/...) for rotate, resolve and revoke", HelpName = "A" };
        var command = new Command("shadow", "Manage and resolve shadow addresses") { operation, address };
        command.Validators.Add(result =>
        {
            string? op = result.GetValue(operation);
            bool needs = op is "rotate" or "resolve" or "revoke";
            string? given = result.GetValue(address);
            if (needs && given is null) result.AddError($"--operation {op} needs --address");
            else if (!needs && given is not null) result.AddError($"--operation {op} takes no --address");
            else if (given is not null && !ShadowAddress.TryParse(given, out _)) result.AddError($"'{given}' is not a shadow address");
        });
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            string op = parse.GetValue(operation)!;
            var request = new AddressRequest(parse.GetValue(address) is { } a ? ShadowAddress.Parse(a).ToUri() : null);
            using var client = ControlClient.Open(context.NodeHome);
            switch (op)
            {
                case "generate":
                {
                    var info = await client.PostAsync<AddressRequest, AddressInfo>("v1/shadow/generate", request, cancellationToken);
                    context.Output.Result(info, text => PrintAddress(text, info));
                    break;
                }
                case "rotate":
                {
                    var rotated = await client.PostAsync<AddressRequest, RotateResponse>("v1/shadow/rotate", request, cancellationToken);
                    context.Output.Result(rotated, text =>
                    {
                        text.WriteLine($"rotated {rotated.Old.Address}: reachable until {rotated.Old.RetiresAt:u}");
                        PrintAddress(text, rotated.New);
                    });
                    break;
                }
                case "list":
                {
                    var list = await client.GetAsync<IReadOnlyList<AddressInfo>>("v1/shadow/addresses", cancellationToken);
                    context.Output.Result(list, text =>
                    {
                        if (list.Count == 0) text.WriteLine("no shadow addresses");
                        foreach (var info in list) PrintAddress(text, info);
                    });
                    break;
                }
                case "resolve":
                {
                    var resolved = await client.PostAsync<AddressRequest, ResolveResponse>("v1/shadow/resolve", request, cancellationToken);
                    context.Output.Result(resolved, text =>
                    {
                        text.WriteLine($"{resolved.Address}: descriptor of period {resolved.Period}, {resolved.IntroductionPoints.Count} introduction points");
                        foreach (var point in resolved.IntroductionPoints)
                            text.WriteLine($"  {point.Relay}{(point.Addresses.Count > 0 ? " at " + string.Join(", ", point.Addresses) : "")}");
                    });
                    break;
                }
                default:
                {
                    var revoked = await client.PostAsync<AddressRequest, RevokeResponse>("v1/shadow/revoke", request, cancellationToken);
                    context.Output.Result(revoked, text => text.WriteLine(revoked switch
                    {
                        { RetirementRecords: 0 } => $"revoked {revoked.Address}: it had no descriptor to supersede",
                        { RetirementStoredOn: 0 } => $"revoked {revoked.Address}: its retirement record was not stored yet (retried by the node)",
                        _ => $"revoked {revoked.Address}: no longer resolves (retirement record stored on {revoked.RetirementStoredOn} DHT peers)",
                    }));
                    break;
                }
            }
            return ExitCodes.Success;
        });
        return command;
    }

    private static void PrintAddress(TextWriter text, AddressInfo info)
    {
        text.WriteLine($"{info.Address} ({info.State.ToLowerInvariant()})");
        text.WriteLine($"  multiaddr: {info.Multiaddr}");
        text.WriteLine($"  created {info.Created:u}, {info.Uses} uses, "
            + (info.RetiresAt is { } end ? $"reachable until {end:u}" : $"rotates at {info.RotateAt:u}"));
        if (info.Publication is not { } p) text.WriteLine("  not published yet");
        else if (p.Error is not null) text.WriteLine($"  not published (period {p.Period}): {p.Error}");
        else text.WriteLine($"  published for period {p.Period} at {p.At:u} on {p.StoredOn} DHT peers, {p.IntroductionPoints} introduction points, expires {p.Expires:u}");
    }

    public static void MapEndpoints(IEndpointRouteBuilder routes)
    {
        routes.MapPost("/v1/shadow/generate", async (IServiceProvider services, HttpContext http) =>
        {
            var (pool, publisher) = ServiceOf(services);
            ShadowAddress created;
            try
            {
                created = pool.Generate();
            }
            catch (InvalidOperationException e)
            {
                throw new ApiException(409, e.Message);
            }
            using var scope = ControlApi.OperationScope(http);
            await publisher.PublishNowAsync(created, scope.Token); // the operator's moment: no random delay
            return Info(pool.List().Single(e => e.Address.Equals(created)), publisher);
        });
        routes.MapPost("/v1/shadow/rotate", async (AddressRequest request, IServiceProvider services, HttpContext http) =>
        {
            var (pool, publisher) = ServiceOf(services);
            var old = AddressOf(request);
            ShadowAddress fresh;
            try
            {
                fresh = pool.Rotate(old);
            }
            catch (KeyNotFoundException e)
            {
                throw new ApiException(404, e.Message);
            }
            catch (InvalidOperationException e)
            {
                throw new ApiException(409, e.Message);
            }
            using var scope = ControlApi.OperationScope(http);
            // The new address at once (the operator's moment); the old one is not republished (shadow.md, section 6).
            await publisher.PublishNowAsync(fresh, scope.Token);
            var list = pool.List();
            return new RotateResponse(Info(list.Single(e => e.Address.Equals(old)), publisher), Info(list.Single(e => e.Address.Equals(fresh)), publisher));
        });
        routes.MapGet("/v1/shadow/addresses", (IServiceProvider services) =>
        {
            var (pool, publisher) = ServiceOf(services);
            return pool.List().Select(e => Info(e, publisher)).ToList();
        });
        routes.MapPost("/v1/shadow/revoke", async (AddressRequest request, IServiceProvider services, HttpContext http) =>
        {
            var (pool, publisher) = ServiceOf(services);
            var address = AddressOf(request);
            if (!pool.Revoke(address)) throw new ApiException(404, $"{address.ToUri()} is not in this node's pool");
            using var scope = ControlApi.OperationScope(http);
            // Forgets it, and supersedes its stored descriptors by retirement records at once.
            var retired = await publisher.RetireNowAsync(address, scope.Token);
            return new RevokeResponse(address.ToUri(), true, retired.Count, retired.Count == 0 ? 0 : retired.Min(p => p.StoredOn));
        });
        routes.MapPost("/v1/shadow/resolve", async (AddressRequest request, IServiceProvider services, HttpContext http) =>
        {
            var directory = services.GetRequiredService<ShadowDirectory>();
            var address = AddressOf(request);
            using var scope = ControlApi.OperationScope(http);
            try
            {
                var content = await directory.ResolveAsync(address, scope.Token);
                return new ResolveResponse(address.ToUri(), directory.CurrentPeriod.Number, [.. content.IntroductionPoints.Select(p =>
                    new IntroductionPointInfo(p.Relay.ToString(), [.. p.Addresses.Select(a => a.ToString())]))]);
            }
            catch (DhtNotFoundException e)
            {
                throw new ApiException(404, ShadowDirectory.IsRetirement(e)
                    ? $"{address.ToUri()} was retired by its service"
                    : $"no descriptor of {address.ToUri()} in the DHT for this period");
            }
            catch (ShadowFormatException e)
            {
                throw new ApiException(502, $"the descriptor of {address.ToUri()} was refused: {e.Message}");
            }
            catch (DhtNoPeersException e)
            {
                throw new ApiException(503, $"cannot resolve: {e.Message}");
            }
            catch (P2PStack.Privacy.Onion.CircuitException e)
            {
                // Over circuits: e.g. the onion directory did not list enough relays within shadowDirectoryWaitSeconds.
                throw new ApiException(502, $"cannot resolve {address.ToUri()}: {e.Message}", e);
            }
        });
    }

    /// <summary>Whether <paramref name="target"/> names a shadow address: <c>shadow:&lt;text&gt;</c> or a multiaddr with a
    /// <c>/shadow</c> component (ping, message).</summary>
    public static bool IsShadowTarget(string? target, out ShadowAddress address)
    {
        _ = ShadowAddress.Protocol; // registers /shadow for the multiaddr parser
        address = null!;
        if (target is null || !(target.StartsWith(ShadowAddress.Scheme, StringComparison.Ordinal) || target.StartsWith("/shadow/", StringComparison.Ordinal)))
            return false;
        if (!ShadowAddress.TryParse(target, out var parsed)) return false;
        address = parsed!;
        return true;
    }

    /// <summary>Node side: a private connection to a shadow address under an ephemeral identity (resolution, a circuit to
    /// an introduction point, the end-to-end handshake with the address's service identity); the caller closes it.</summary>
    public static Task<P2PStack.Network.IConnection> ConnectAsync(IServiceProvider services, ShadowAddress address,
        CancellationToken cancellationToken) =>
        ConnectAsync(services, address, new P2PStack.Privacy.Onion.Client.EphemeralIdentity(), cancellationToken);

    /// <summary>As <see cref="ConnectAsync(IServiceProvider, ShadowAddress, CancellationToken)"/>, under
    /// <paramref name="identity"/> (the caller signs with it).</summary>
    public static async Task<P2PStack.Network.IConnection> ConnectAsync(IServiceProvider services, ShadowAddress address,
        P2PStack.Network.ILocalIdentity identity, CancellationToken cancellationToken)
    {
        var connector = services.GetService<P2PStack.Privacy.ShadowAddresses.Connections.ShadowConnector>()
            ?? throw new ApiException(409, "connecting to a shadow address needs onion circuits: initialise the node with p2p init --onion");
        try
        {
            return await connector.ConnectAsync(address, identity, cancellationToken);
        }
        catch (P2PStack.Privacy.ShadowAddresses.Connections.ShadowConnectException e)
        {
            throw new ApiException(e.Result == "not_found" ? 404 : 502, e.Message, e);
        }
        catch (DhtNoPeersException e)
        {
            throw new ApiException(503, $"cannot resolve {address.ToUri()}: {e.Message}", e);
        }
    }

    private static AddressInfo Info(ShadowAddressEntry entry, ShadowPublisher publisher) =>
        new(entry.Address.ToUri(), entry.Address.ToMultiaddr().ToString(), entry.State.ToString(), entry.Created, entry.Uses, entry.RotateAt,
            entry.RetiresAt, publisher.LastOf(entry.Address) is { } p
                ? new PublicationInfo(p.Period, p.At, p.StoredOn, p.IntroductionPoints, p.Error is null ? p.Expires : null, p.Error)
                : null);

    private static ShadowAddress AddressOf(AddressRequest request) =>
        request.Address is { } text && ShadowAddress.TryParse(text, out var address) ? address!
            : throw new ApiException(400, $"'{request.Address}' is not a shadow address");

    private static (ShadowAddressPool Pool, ShadowPublisher Publisher) ServiceOf(IServiceProvider services) =>
        services.GetService<ShadowPublisher>() is { } publisher
            ? (services.GetRequiredService<ShadowAddressPool>(), publisher)
            : throw new ApiException(409, "this node runs no shadow service: initialise it with p2p init --shadow");
}
