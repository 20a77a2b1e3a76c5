using System.CommandLine;
using System.Net.Http;
using P2PStack.Identity;
using P2PStack.Registry;
using SynapticMesh.Cli;
using SynapticMesh.Home;

namespace SynapticMesh.Commands;

/// <summary>
/// <c>registry ...</c>: run the registry service (<c>start</c>) and operate it: <c>approve</c>, <c>deny</c>,
/// <c>sovereign add</c> sign with the local node's key (--home); <c>nodes</c> lists.
/// </summary>
public static class RegistryCommand
{
    public const string RegistryVariable = "SYNAPTIC_MESH_REGISTRY";

    public static Command Create(CommandContextFactory contexts)
    {
        var command = new Command("registry", "Run the registry and coordination service, or operate one");
        command.Subcommands.Add(RegistryStartCommand.Create(contexts));
        command.Subcommands.Add(Decision(contexts, approve: true));
        command.Subcommands.Add(Decision(contexts, approve: false));
        var sovereign = new Command("sovereign", "Manage the sovereign keys that approve and deny nodes");
        sovereign.Subcommands.Add(SovereignAdd(contexts));
        command.Subcommands.Add(sovereign);
        command.Subcommands.Add(Nodes(contexts));
        return command;
    }

    /// <summary>--registry URL (default: $SYNAPTIC_MESH_REGISTRY).</summary>
    public static Option<string?> RegistryOption() => new("--registry")
    {
        Description = $"Registry URL, e.g. http://127.0.0.1:8190 (default: ${RegistryVariable})",
        HelpName = "url",
    };

    public static Uri ParseUrl(string? text, string option = "--registry")
    {
        text ??= Environment.GetEnvironmentVariable(RegistryVariable);
        if (string.IsNullOrWhiteSpace(text)) throw new CliException($"{option} URL is required (or set {RegistryVariable})", ExitCodes.Usage);
        if (!Uri.TryCreate(text, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https") || url.UserInfo.Length > 0)
            throw new CliException($"{option} wants an http or https URL such as http://127.0.0.1:8190, not '{text}'", ExitCodes.Usage);
        return url;
    }

    private static Option<string?> TokenOption() => new("--token")
    {
        Description = "Bearer token for registries that want one on reads (default: $SYNAPTIC_MESH_REGISTRY_TOKEN; reads are signed anyway)",
    };

    private static Command Decision(CommandContextFactory contexts, bool approve)
    {
        var node = new Argument<string>("node-id") { Description = "Peer id of the node" };
        var registry = RegistryOption();
        var reason = new Option<string?>("--reason") { Description = "Why (kept with the decision)" };
        var command = new Command(approve ? "approve" : "deny",
            approve ? "Approve a pending node (signed with this node's key, which must be a sovereign)" : "Deny a node (signed with this node's key, a sovereign)")
        {
            node, registry, reason,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            string id = parse.GetValue(node)!;
            if (!PeerId.TryParse(id, out _)) throw new CliException($"'{id}' is not a peer id", ExitCodes.Usage);
            var url = ParseUrl(parse.GetValue(registry));
            using var client = OpenClient(context, url, null);
            var result = await CallAsync(url, () => approve
                ? client.ApproveAsync(id, parse.GetValue(reason), cancellationToken)
                : client.DenyAsync(id, parse.GetValue(reason), cancellationToken));
            context.Output.Result(result, text => text.WriteLine($"{result.NodeId}: {result.Status}"));
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command SovereignAdd(CommandContextFactory contexts)
    {
        var key = new Argument<string>("key") { Description = "The new sovereign: a peer id or a base64url libp2p public key" };
        var registry = RegistryOption();
        var label = new Option<string?>("--label") { Description = "A name for the key" };
        var command = new Command("add", "Add a sovereign key (signed with this node's key, an existing sovereign)") { key, registry, label };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            string text = parse.GetValue(key)!;
            try
            {
                _ = SovereignKey.Parse(text);
            }
            catch (FormatException e)
            {
                throw new CliException(e.Message, ExitCodes.Usage, e);
            }
            var url = ParseUrl(parse.GetValue(registry));
            using var client = OpenClient(context, url, null);
            var result = await CallAsync(url, () => client.AddSovereignAsync(text, parse.GetValue(label), cancellationToken));
            context.Output.Result(result, output => output.WriteLine($"sovereign {result.PeerId} (added by {result.AddedBy ?? "the operator"})"));
            return ExitCodes.Success;
        });
        return command;
    }

    private static Command Nodes(CommandContextFactory contexts)
    {
        var registry = RegistryOption();
        var status = new Option<string?>("--status") { Description = $"Only nodes with this status: {string.Join(", ", NodeStatus.All)}" };
        status.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string?>() is { } s && !NodeStatus.All.Contains(s))
                result.AddError($"--status must be one of {string.Join(", ", NodeStatus.All)}");
        });
        var token = TokenOption();
        var command = new Command("nodes", "List the registry's nodes") { registry, status, token };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var context = contexts.Create(parse);
            var url = ParseUrl(parse.GetValue(registry));
            using var client = OpenClient(context, url, parse.GetValue(token) ?? Environment.GetEnvironmentVariable("SYNAPTIC_MESH_REGISTRY_TOKEN"));
            var result = await CallAsync(url, () => client.GetNodesAsync(parse.GetValue(status), cancellationToken));
            context.Output.Result(result, text => PrintNodes(text, result));
            return ExitCodes.Success;
        });
        return command;
    }

    private static void PrintNodes(TextWriter text, NodeList list)
    {
        if (list.Nodes.Count == 0)
        {
            text.WriteLine("no nodes");
            return;
        }
        int idWidth = list.Nodes.Max(n => n.Id.Length);
        text.WriteLine($"{"NODE".PadRight(idWidth)}  {"STATUS",-8}  {"PEERS",5}  {"LAST SEEN (UTC)",-19}  NAME");
        foreach (var node in list.Nodes)
        {
            string name = CleanText(node.Name ?? "");
            text.WriteLine($"{node.Id.PadRight(idWidth)}  {node.Status,-8}  {node.ConnectedPeers,5}  {node.LastSeen.UtcDateTime:yyyy-MM-dd HH:mm:ss}  {name}");
        }
        text.WriteLine($"{list.Count} nodes");
    }

    /// <summary>Names come from the nodes themselves: no control or format characters (bidi overrides) reach the terminal.</summary>
    private static string CleanText(string value) => new([.. value.Select(c =>
        char.IsControl(c) || char.GetUnicodeCategory(c) is System.Globalization.UnicodeCategory.Format ? '?' : c)]);

    private static SigningClient OpenClient(CommandContext context, Uri url, string? token)
    {
        var key = IdentityFile.Load(context.NodeHome, context.Output);
        return new SigningClient(key, new RegistryClient(key, new RegistryClientOptions { BaseAddress = url, BearerToken = token }));
    }

    /// <summary>A registry client with the node's key it signs with; disposing it zeroes the key.</summary>
    private sealed class SigningClient(PrivateKey key, RegistryClient client) : IDisposable
    {
        public Task<NodeStatusResponse> ApproveAsync(string id, string? reason, CancellationToken ct) => client.ApproveAsync(id, reason, ct);
        public Task<NodeStatusResponse> DenyAsync(string id, string? reason, CancellationToken ct) => client.DenyAsync(id, reason, ct);
        public Task<SovereignView> AddSovereignAsync(string text, string? label, CancellationToken ct) => client.AddSovereignAsync(text, label, ct);
        public Task<NodeList> GetNodesAsync(string? status, CancellationToken ct) => client.GetNodesAsync(status, ct);

        public void Dispose()
        {
            client.Dispose();
            key.Dispose();
        }
    }

    /// <summary>Turns the registry's refusals and network failures into one-line CLI errors.</summary>
    public static async Task<T> CallAsync<T>(Uri url, Func<Task<T>> call)
    {
        try
        {
            return await call();
        }
        catch (RegistryRequestException e)
        {
            throw new CliException($"the registry refused ({e.Status}): {e.Message}", inner: e);
        }
        catch (HttpRequestException e)
        {
            throw new CliException($"cannot reach the registry at {url}: {e.Message}", inner: e);
        }
        catch (TaskCanceledException e) when (e.InnerException is TimeoutException)
        {
            throw new CliException($"the registry at {url} did not answer in time", inner: e);
        }
    }
}
